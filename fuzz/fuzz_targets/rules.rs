//! libFuzzer entry of the `rules` target; the body is [`gws_botd_fuzz::rules`] (see `src/lib.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gws_botd_fuzz::rules(data));
