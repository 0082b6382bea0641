//! libFuzzer entry of the `bayeux` target; the body is [`gws_botd_fuzz::bayeux`] (see `src/lib.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gws_botd_fuzz::bayeux(data));
