//! `request`: any PDU through the core's request parser.
//!
//! Checked, beyond "does not panic": every PDU that parses emits back to
//! exactly its own bytes (the parser accepts no trailing bytes and ignores
//! no field), and the parsed request keeps its function code.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mbnode_core::frame::MAX_PDU;
use mbnode_core::request::Request;

fuzz_target!(|pdu: &[u8]| {
    hilt_fuzz::init();
    if let Ok(request) = Request::parse(pdu) {
        let mut out = [0u8; MAX_PDU + 8];
        let n = request.emit(&mut out).expect("a parsed request fits a PDU");
        assert_eq!(&out[..n], pdu, "parse -> emit changed the PDU: {request:?}");
        assert_eq!(request.function(), pdu[0]);
    }
});
