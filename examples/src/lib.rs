//! The pieces of the towerlight demo: five services in five frameworks that call each other,
//! so that one trace crosses Axum (HTTP), Tonic (gRPC), jsonrpsee (JSON-RPC), tarpc and
//! Actix-web.
//!
//! ```text
//! client ─HTTP─▶ storefront (Axum) ─gRPC─▶ inventory (Tonic) ─JSON-RPC─▶ pricing (jsonrpsee)
//!        ─tarpc─▶ ledger (tarpc) ─HTTP─▶ billing (Actix-web)
//! ```

pub mod billing;
pub mod inventory;
pub mod ledger;
pub mod pricing;
pub mod storefront;

/// The inventory service's generated code (checked in: `examples/proto/inventory.proto`,
/// generated with `tonic-prost-build` from a `protox`-compiled descriptor; no `protoc` needed).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    include!("proto/inventory.rs");
}
