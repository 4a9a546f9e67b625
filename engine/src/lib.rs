//! tiaokuai engine
