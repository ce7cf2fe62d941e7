//! Behavioral assertions and guard predicates from arbitrary bytes: no input may panic, hang or
//! allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    orc::testkit::fuzzing::expression(data);
});
