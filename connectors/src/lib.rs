//! tiaokuai connectors
