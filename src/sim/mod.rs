//! Zoom API simulator (being written).
