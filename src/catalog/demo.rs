//! The demo catalog embedded in the binary: a small grocery and deli shop.
//!
//! Loaded through the NDJSON importer on first start when the catalog is empty,
//! so a fresh install has something to browse and search. It must not overwrite
//! a shop's own products.

use rust_embed::RustEmbed;

use super::Currency;
use super::import::{self, Format, ImportError, ImportOptions, ImportReport, Source};
use crate::store::{Store, products};

#[derive(RustEmbed)]
#[folder = "assets/demo/"]
struct DemoFiles;

const CATALOG_FILE: &str = "catalog.ndjson";

/// The raw NDJSON of the demo catalog.
pub fn catalog_bytes() -> Vec<u8> {
    DemoFiles::get(CATALOG_FILE)
        .map(|file| file.data.into_owned())
        .unwrap_or_default()
}

/// Imports the demo catalog when the shop has no products yet; `None` if it had some.
pub fn load_if_empty(
    store: &Store,
    currency: &Currency,
) -> Result<Option<ImportReport>, ImportError> {
    if store.read(products::counts)?.total > 0 {
        return Ok(None);
    }
    let bytes = catalog_bytes();
    let options = ImportOptions {
        format: Some(Format::Ndjson),
        strict: false,
    };
    import::import(store, Source::Bytes(&bytes), &options, currency, &|_| {}).map(Some)
}
