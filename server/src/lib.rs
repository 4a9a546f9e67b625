//! tiaokuai server
