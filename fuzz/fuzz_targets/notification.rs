//! libFuzzer entry of the `notification` target; the body is [`gws_botd_fuzz::notification`] (see `src/lib.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gws_botd_fuzz::notification(data));
