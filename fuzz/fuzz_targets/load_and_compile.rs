//! Loading and compiling ensembles, profiles and config from arbitrary bytes: no input may
//! panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    orc::testkit::fuzzing::load_and_compile(data);
});
