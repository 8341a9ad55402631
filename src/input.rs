//! Input reading (being written).
