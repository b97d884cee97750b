#![no_main]
//! Fuzz target: `cairn_gateway::xml::request::fuzz_xml_bodies` on arbitrary bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cairn_gateway::xml::request::fuzz_xml_bodies(data);
});
