//! The `.tar.zst` file: writing one beside its destination and renaming it
//! into place, reading its manifest, and unpacking it into a scratch folder
//! with every checksum verified.
//!
//! Owns the layout inside the archive (`manifest.json` first, then
//! `shopkeep.db` and `config.toml`). It must not touch the live database.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{BackupError, FORMAT, FileEntry, Manifest, SEARCH_INDEX_NOTE};
use crate::store::snapshot::{self, FileFacts};

pub const MANIFEST: &str = "manifest.json";
pub const DATABASE: &str = "shopkeep.db";
pub const CONFIG: &str = "config.toml";
/// The files an archive may hold besides its manifest.
const PAYLOAD: [&str; 2] = [DATABASE, CONFIG];
/// A manifest is a few kilobytes; a huge one is not ours.
const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// zstd's default level: most of the gain for little CPU on a small VPS.
const ZSTD_LEVEL: i32 = 3;

fn damaged(what: &str) -> impl Fn(io::Error) -> BackupError + '_ {
    move |error| BackupError::Damaged(format!("{what}: {error}"))
}

/// Writes the archive of `database` (a snapshot file) and `config_file` to
/// `dest`: into a private temporary file beside it, synced, then renamed, so
/// `dest` is whole or absent. Returns the manifest written.
pub fn write(
    database: &Path,
    config_file: Option<&Path>,
    dest: &Path,
) -> Result<Manifest, BackupError> {
    let facts = snapshot::inspect(database)?;
    if facts.integrity != "ok" {
        return Err(BackupError::Damaged(format!(
            "the snapshot failed SQLite's integrity check: {}",
            facts.integrity
        )));
    }
    let mut payload = vec![(DATABASE, database.to_path_buf())];
    if let Some(config) = config_file.filter(|p| p.is_file()) {
        payload.push((CONFIG, config.to_path_buf()));
    }
    let files = payload
        .iter()
        .map(|(name, path)| {
            Ok(FileEntry {
                name: name.to_string(),
                bytes: fs::metadata(path)
                    .map_err(BackupError::io(format!("cannot read {}", path.display())))?
                    .len(),
                sha256: file_sha256(path)?,
            })
        })
        .collect::<Result<Vec<_>, BackupError>>()?;
    let manifest = manifest(facts, files);
    let folder = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let cannot_write = || format!("cannot write the backup {}", dest.display());
    // tempfile creates the file 0600: the archive holds the config's secrets.
    let partial = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(folder)
        .map_err(BackupError::io(cannot_write()))?;
    write_tar(partial.as_file(), &manifest, &payload).map_err(BackupError::io(cannot_write()))?;
    partial
        .as_file()
        .sync_all()
        .map_err(BackupError::io(cannot_write()))?;
    partial
        .persist(dest)
        .map_err(|e| BackupError::io(cannot_write())(e.error))?;
    sync_dir(folder);
    Ok(manifest)
}

fn manifest(facts: FileFacts, files: Vec<FileEntry>) -> Manifest {
    Manifest {
        format: FORMAT,
        app_version: env!("CARGO_PKG_VERSION").to_string(),
        schema_version: facts.schema_version,
        created_at: crate::store::timestamp(OffsetDateTime::now_utc()),
        files,
        tables: facts.tables,
        search_index: SEARCH_INDEX_NOTE.to_string(),
    }
}

fn write_tar(out: &File, manifest: &Manifest, payload: &[(&str, PathBuf)]) -> io::Result<()> {
    let mut encoder = zstd::Encoder::new(out, ZSTD_LEVEL)?;
    // A checksum of the whole stream, checked by every reader.
    encoder.include_checksum(true)?;
    let mut tar = tar::Builder::new(encoder);
    let manifest_json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    append(
        &mut tar,
        MANIFEST,
        manifest_json.len() as u64,
        &manifest_json[..],
    )?;
    for (name, path) in payload {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        append(&mut tar, name, len, BufReader::new(file))?;
    }
    tar.into_inner()?.finish()?;
    Ok(())
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    len: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(len);
    header.set_mode(0o600);
    header.set_mtime(OffsetDateTime::now_utc().unix_timestamp().max(0) as u64);
    tar.append_data(&mut header, name, data)
}

/// Makes a rename in `folder` durable; a failure only weakens that guarantee.
pub(crate) fn sync_dir(folder: &Path) {
    #[cfg(unix)]
    if let Err(error) = File::open(folder).and_then(|dir| dir.sync_all()) {
        tracing::warn!(folder = %folder.display(), %error, "could not sync the folder after a rename");
    }
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> Result<String, BackupError> {
    let mut file =
        File::open(path).map_err(BackupError::io(format!("cannot read {}", path.display())))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)
        .map_err(BackupError::io(format!("cannot read {}", path.display())))?;
    Ok(hex::encode(hasher.finalize()))
}

type Entries<'a> = tar::Entries<'a, zstd::Decoder<'static, BufReader<File>>>;

fn open_entries(
    archive: &Path,
) -> Result<tar::Archive<zstd::Decoder<'static, BufReader<File>>>, BackupError> {
    let file = File::open(archive).map_err(BackupError::io(format!(
        "cannot open the archive {}",
        archive.display()
    )))?;
    let decoder = zstd::Decoder::new(file).map_err(damaged("not zstd-compressed"))?;
    Ok(tar::Archive::new(decoder))
}

/// Reads the manifest, which must come first.
fn next_manifest(entries: &mut Entries<'_>) -> Result<Manifest, BackupError> {
    let mut entry = entries
        .next()
        .ok_or_else(|| BackupError::Damaged("the archive is empty".into()))?
        .map_err(damaged("unreadable (not a .tar.zst, or cut short)"))?;
    if entry_name(&entry)? != MANIFEST {
        return Err(BackupError::Damaged(format!(
            "{MANIFEST} is not its first file"
        )));
    }
    let mut text = Vec::new();
    (&mut entry)
        .take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut text)
        .map_err(damaged("the manifest is unreadable"))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| BackupError::Damaged(format!("the manifest is not valid: {e}")))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Damaged(format!(
            "manifest format {} is not the one this shopkeep reads ({FORMAT})",
            manifest.format
        )));
    }
    Ok(manifest)
}

/// The archive's manifest alone, for listing (the rest is not read).
pub fn read_manifest(archive: &Path) -> Result<Manifest, BackupError> {
    let mut tar = open_entries(archive)?;
    let mut entries = tar
        .entries()
        .map_err(damaged("unreadable (not a .tar.zst, or cut short)"))?;
    next_manifest(&mut entries)
}

/// One plain file name at the top of the archive, nothing else.
fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> Result<String, BackupError> {
    let path = entry.path().map_err(damaged("a file name is unreadable"))?;
    let mut parts = path.components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(name)), None) => name
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| BackupError::Damaged("a file name is not UTF-8".into())),
        _ => Err(BackupError::Damaged(format!(
            "it holds {:?}, which is not a plain file name",
            path.display().to_string()
        ))),
    }
}

/// An archive unpacked into a scratch folder, every checksum verified;
/// the folder goes when this is dropped.
pub struct Verified {
    pub manifest: Manifest,
    dir: tempfile::TempDir,
}

impl Verified {
    /// The database file, synced to disk, beside the data directory's.
    pub fn database(&self) -> PathBuf {
        self.dir.path().join(DATABASE)
    }

    /// The config file the backup carried, if any.
    pub fn config(&self) -> Option<PathBuf> {
        Some(self.dir.path().join(CONFIG)).filter(|p| p.is_file())
    }
}

/// Unpacks `archive` into a scratch folder in `data_dir` and checks it
/// whole: the zstd stream checksum, each file's size and SHA-256 against
/// the manifest, no file more or less, SQLite's integrity check, the schema
/// version (one this build can migrate) and every table's rows and checksum.
pub fn verify(archive: &Path, data_dir: &Path) -> Result<Verified, BackupError> {
    let dir = super::scratch_dir(data_dir)?;
    let mut tar = open_entries(archive)?;
    let mut entries = tar
        .entries()
        .map_err(damaged("unreadable (not a .tar.zst, or cut short)"))?;
    let manifest = next_manifest(&mut entries)?;
    let known = crate::store::known_schema_version();
    if manifest.schema_version > known {
        return Err(BackupError::TooNew {
            found: manifest.schema_version,
            known,
            app_version: manifest.app_version.clone(),
        });
    }
    let mut seen = HashSet::new();
    for entry in entries {
        let entry = entry.map_err(damaged("unreadable (cut short or corrupted)"))?;
        let name = entry_name(&entry)?;
        let expected = manifest
            .files
            .iter()
            .find(|f| f.name == name && PAYLOAD.contains(&f.name.as_str()))
            .ok_or_else(|| BackupError::Damaged(format!("{name} is not listed in its manifest")))?;
        if !seen.insert(name.clone()) || entry.header().entry_type() != tar::EntryType::Regular {
            return Err(BackupError::Damaged(format!(
                "{name} appears twice or is not a file"
            )));
        }
        unpack_checked(entry, expected, &dir.path().join(&name))?;
    }
    // tar stops at its end marker; reading on to the end of the zstd frame
    // is what checks the stream's checksum.
    io::copy(&mut tar.into_inner(), &mut io::sink())
        .map_err(damaged("the compressed stream is corrupted"))?;
    if let Some(missing) = manifest.files.iter().find(|f| !seen.contains(&f.name)) {
        return Err(BackupError::Damaged(format!("{} is missing", missing.name)));
    }
    if !seen.contains(DATABASE) {
        return Err(BackupError::Damaged(format!("it holds no {DATABASE}")));
    }
    let verified = Verified { manifest, dir };
    check_database(&verified)?;
    Ok(verified)
}

fn unpack_checked<R: Read>(
    entry: tar::Entry<'_, R>,
    expected: &FileEntry,
    dest: &Path,
) -> Result<(), BackupError> {
    let name = &expected.name;
    let mut out = fs::OpenOptions::new();
    out.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        out.mode(0o600);
    }
    let file = out
        .open(dest)
        .map_err(BackupError::io(format!("cannot write {}", dest.display())))?;
    let mut writer = HashingWriter {
        inner: io::BufWriter::new(&file),
        hasher: Sha256::new(),
        bytes: 0,
    };
    io::copy(
        &mut entry.take(expected.bytes.saturating_add(1)),
        &mut writer,
    )
    .map_err(damaged(&format!("{name} is cut short or corrupted")))?;
    writer
        .inner
        .flush()
        .map_err(BackupError::io(format!("cannot write {}", dest.display())))?;
    let sha256 = hex::encode(writer.hasher.finalize());
    if writer.bytes != expected.bytes || sha256 != expected.sha256 {
        return Err(BackupError::Damaged(format!(
            "{name} does not match its checksum in the manifest ({} bytes, SHA-256 {sha256}; expected {} bytes, {})",
            writer.bytes, expected.bytes, expected.sha256
        )));
    }
    file.sync_all()
        .map_err(BackupError::io(format!("cannot write {}", dest.display())))
}

/// The database itself must be sound and hold what the manifest says.
fn check_database(verified: &Verified) -> Result<(), BackupError> {
    let manifest = &verified.manifest;
    let facts = snapshot::inspect(&verified.database())
        .map_err(|e| BackupError::Damaged(format!("its database cannot be read: {e}")))?;
    if facts.integrity != "ok" {
        return Err(BackupError::Damaged(format!(
            "its database fails SQLite's integrity check: {}",
            facts.integrity
        )));
    }
    if facts.schema_version != manifest.schema_version {
        return Err(BackupError::Damaged(format!(
            "its database has schema version {}, the manifest says {}",
            facts.schema_version, manifest.schema_version
        )));
    }
    for expected in &manifest.tables {
        let found = facts.tables.iter().find(|t| t.name == expected.name);
        if found != Some(expected) {
            return Err(BackupError::Damaged(format!(
                "table {} does not match the manifest's rows and checksum",
                expected.name
            )));
        }
    }
    Ok(())
}

struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
