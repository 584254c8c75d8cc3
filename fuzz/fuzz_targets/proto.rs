//! Protobuf fields: reading never panics, and re-writing every field read gives back the bytes
//! (up to the non-minimal varints protobuf allows, which the writer never emits).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::wire::proto::{Reader, Value, Writer};

fuzz_target!(|data: &[u8]| {
    let mut out = vec![0u8; data.len() + 16];
    let mut w = Writer::new(&mut out);
    let mut consumed_all = true;
    for field in Reader::new(data) {
        let Ok(f) = field else {
            consumed_all = false;
            break;
        };
        let r = match f.value {
            Value::Varint(v) => w.varint(f.number, v).map(drop),
            Value::Fixed64(v) => w.fixed64(f.number, v).map(drop),
            Value::Len(b) => w.bytes(f.number, b).map(drop),
            Value::Fixed32(v) => w.fixed32(f.number, v).map(drop),
        };
        // The writer's encoding is never longer than the input's.
        r.expect("re-encoding fits in the input's size");
    }
    let written = w.finish();
    if consumed_all {
        // Re-reading what was written gives the same fields.
        let a: Vec<_> = Reader::new(data).map(Result::unwrap).collect();
        let b: Vec<_> = Reader::new(written).map(Result::unwrap).collect();
        assert_eq!(a, b);
    }
});
