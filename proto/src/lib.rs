//! The generated gRPC types of Cairn. Types only, no logic: each crate
//! converts them to its own domain types at its edge.

#![allow(clippy::all, clippy::pedantic)]

tonic::include_proto!("cairn.v1");
