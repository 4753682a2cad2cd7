//! The hash map of the tables the request path reads.

use std::collections::HashMap;

/// A table the request path reads, keyed by ids from the configuration: hashed with Fx, not
/// SipHash. Only configuration fills these tables (a request only looks up), so there is no
/// flooding to defend against, and SipHash over an id or two cost ~150 instructions a probe,
/// several probes per authenticated request (callgrind).
pub type FastMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;
