//! Any string: parsing never panics; what parses prints back to itself and evaluates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssogate_core::ClaimExpr;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let doc = serde_json::json!({
        "sub": "s", "a": {"b": [1, "x", {"c": null}]}, "https://x/y": ["r"], "": "", "n": 1.5, "t": true
    });
    if let Ok(expr) = ClaimExpr::parse(src) {
        let printed = expr.to_string();
        let again = ClaimExpr::parse(&printed).expect("canonical form must parse");
        assert_eq!(expr, again, "round trip of {src:?} via {printed:?}");
        let _ = expr.eval(&doc);
        let _ = expr.eval_string(&doc);
    }
    if let Ok(joined) = ClaimExpr::parse_bookstack_join(src) {
        let _ = joined.eval_string(&doc);
    }
});
