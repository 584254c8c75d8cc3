//! `rhizo add`, `rhizo cat` and `rhizo get`: through the daemon's API when one runs (it fetches
//! missing blocks from its peers), on the repo's store when none does. A progress bar shows on
//! stderr when it is a terminal.

use crate::api::client::{AddPart, ApiClient};
use crate::api::ops::OpError;
use crate::content::{self, AddedEntry, CatSink, FsSink, Import, Source};
use crate::store::Store;
use anyhow::{Context, Result, bail};
use clap::{ArgAction, Args};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Read, Write};
use std::path::{Component, Path, PathBuf};

/// `rhizo add`'s options.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The file or directory to add; `-` reads stdin (named by its CID, as kubo).
    pub path: PathBuf,
    /// Adds a directory and everything under it.
    #[arg(short, long)]
    pub recursive: bool,
    /// The CID version: 0 (kubo's default) or 1 (raw leaves unless --raw-leaves=false).
    #[arg(long, default_value_t = 0, value_name = "VERSION")]
    pub cid_version: u64,
    /// Leaves as raw blocks (the default with --cid-version 1).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub raw_leaves: Option<bool>,
    /// The chunker: size-<bytes> (default size-262144).
    #[arg(long, value_name = "CHUNKER")]
    pub chunker: Option<String>,
    /// Prints only the CIDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Prints only the root's CID.
    #[arg(short = 'Q', long)]
    pub quieter: bool,
    /// Includes files whose names begin with a dot.
    #[arg(short = 'H', long)]
    pub hidden: bool,
    /// Pins the root recursively (the default); --pin=false does not.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub pin: bool,
}

/// The name of stdin's entry until its CID is known.
const STDIN: &str = "-";

/// Opens a file to add (`-`: stdin).
fn open(path: &Path) -> Result<Box<dyn Read>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Box::new(f))
}

/// One thing to add, by its path inside the import.
#[derive(Debug)]
enum Item {
    /// A directory.
    Directory(String),
    /// A file and where it is on disk.
    File(String, PathBuf),
    /// A symlink (inside a directory added with -r) and its target, not followed.
    Symlink(String, Vec<u8>),
}

/// The files, directories and symlinks under `path`, directories before their contents, names
/// sorted. Symlinks inside the directory are kept as symlinks (kubo's `add -r`); a symlink
/// given as `path` itself is followed.
fn collect(path: &Path, recursive: bool, hidden: bool) -> Result<(Vec<Item>, u64)> {
    if path.as_os_str() == "-" {
        return Ok((vec![Item::File(STDIN.to_owned(), path.to_owned())], 0));
    }
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .with_context(|| format!("{} has no usable file name", path.display()))?;
    if !meta.is_dir() {
        return Ok((vec![Item::File(name, path.to_owned())], meta.len()));
    }
    if !recursive {
        bail!("{} is a directory: add it with -r", path.display());
    }
    let mut items = Vec::new();
    let mut total = 0;
    let mut pending = vec![(name, path.to_owned())];
    while let Some((rel, dir)) = pending.pop() {
        items.push(Item::Directory(rel.clone()));
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot list {}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for entry in entries {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                bail!("{}: a file name that is not UTF-8", entry.path().display());
            };
            if name.starts_with('.') && !hidden {
                continue;
            }
            let kind = entry.file_type()?;
            let child = format!("{rel}/{name}");
            if kind.is_dir() {
                subdirs.push((child, entry.path()));
            } else if kind.is_file() {
                total += entry.metadata()?.len();
                items.push(Item::File(child, entry.path()));
            } else if kind.is_symlink() {
                let target = std::fs::read_link(entry.path())
                    .with_context(|| format!("cannot read the link {}", entry.path().display()))?;
                let Some(target) = target.to_str() else {
                    bail!(
                        "{}: a link target that is not UTF-8",
                        entry.path().display()
                    );
                };
                items.push(Item::Symlink(child, target.as_bytes().to_vec()));
            } else {
                tracing::warn!(path = %entry.path().display(), "skipping a special file");
            }
        }
        pending.extend(subdirs.into_iter().rev());
    }
    Ok((items, total))
}

fn bar(total: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    let template = match total {
        Some(_) => "{bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec} {eta}",
        None => "{spinner} {bytes} {bytes_per_sec}",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

fn op<T>(result: Result<T, OpError>) -> Result<T> {
    result.map_err(anyhow::Error::new)
}

/// Runs `rhizo add`.
pub fn add(dir: &Path, args: AddArgs) -> Result<()> {
    let (items, total) = collect(&args.path, args.recursive, args.hidden)?;
    let config = op(content::importer_config(
        args.cid_version,
        args.raw_leaves,
        args.chunker.as_deref(),
    ))?;
    let progress = bar(Some(total));
    let mut entries: Vec<AddedEntry> = match ApiClient::for_repo(dir) {
        Some(api) => {
            let mut parts: Vec<(String, AddPart)> = Vec::new();
            for item in items {
                parts.push(match item {
                    Item::File(name, path) => {
                        let reader = Box::new(progress.wrap_read(open(&path)?)) as Box<dyn Read>;
                        (name, AddPart::File(reader))
                    }
                    Item::Directory(name) => (name, AddPart::Directory),
                    Item::Symlink(name, target) => (name, AddPart::Symlink(target)),
                });
            }
            let version = args.cid_version.to_string();
            let raw = config.raw_leaves.to_string();
            let chunker = format!("size-{}", config.chunk_size);
            let pin = args.pin.to_string();
            let query = [
                ("cid-version", version.as_str()),
                ("raw-leaves", raw.as_str()),
                ("chunker", chunker.as_str()),
                ("pin", pin.as_str()),
            ];
            op(api.add(parts, &query))?
        }
        None => {
            let store = Store::open(dir)?;
            let mut import = Import::new(&store, config, args.pin);
            let mut done = 0u64;
            for item in items {
                match item {
                    Item::Directory(name) => op(import.directory(&name))?,
                    Item::Symlink(name, target) => {
                        op(import.symlink(&name, &target))?;
                    }
                    Item::File(name, path) => {
                        let mut f = open(&path)?;
                        let base = done;
                        let mut seen = 0;
                        op(import.file(&name, &mut f, &mut |n| {
                            seen = n;
                            progress.set_position(base + n);
                        }))?;
                        done += seen;
                    }
                }
            }
            op(import.finish())?
        }
    };
    progress.finish_and_clear();
    for e in &mut entries {
        if e.name == STDIN {
            e.name.clone_from(&e.hash);
        }
    }
    let mut out = std::io::stdout().lock();
    if args.quieter {
        if let Some(root) = entries.last() {
            writeln!(out, "{}", root.hash)?;
        }
        return Ok(());
    }
    for e in &entries {
        if args.quiet {
            writeln!(out, "{}", e.hash)?;
        } else {
            writeln!(out, "added {} {}", e.hash, e.name)?;
        }
    }
    Ok(())
}

/// Runs `rhizo cat`.
pub fn cat(dir: &Path, cid: &str, timeout: Option<&str>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match ApiClient::for_repo(dir) {
        Some(api) => {
            let mut reader = op(api.cat(cid, timeout))?;
            std::io::copy(&mut reader, &mut out).context("reading the file from the daemon")?;
        }
        None => {
            let (root, names) = op(content::parse_path(cid))?;
            let store = Store::open(dir)?;
            let mut source = Source {
                store: &store,
                fetcher: None,
            };
            let target = op(content::resolve(&mut source, root, &names))?;
            op(content::export(
                &mut source,
                target,
                cid,
                &mut CatSink(&mut out),
            ))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Runs `rhizo get`: the file or directory at `cid` (a CID or a path under one) written at
/// `output` (default: the path's last name, or the CID).
pub fn get(dir: &Path, cid: &str, output: Option<&Path>, timeout: Option<&str>) -> Result<()> {
    let output = match output {
        Some(o) => o.to_owned(),
        None => PathBuf::from(op(content::path_base_name(cid))?),
    };
    if output.exists() {
        bail!(
            "{} exists already: choose another path with -o",
            output.display()
        );
    }
    // Written under a partial name beside `output`, renamed at the end: a `get` killed midway
    // leaves no truncated file at `output`, and the next `get` replaces its partial one.
    let partial = partial_path(&output)?;
    remove_partial(&partial)?;
    let progress = bar(None);
    match ApiClient::for_repo(dir) {
        Some(api) => {
            let reader = progress.wrap_read(op(api.get(cid, timeout))?);
            unpack(reader, &partial)?;
        }
        None => {
            let (root, names) = op(content::parse_path(cid))?;
            let store = Store::open(dir)?;
            let mut source = Source {
                store: &store,
                fetcher: None,
            };
            let root = op(content::resolve(&mut source, root, &names))?;
            let name = partial
                .to_str()
                .context("the output path is not UTF-8")?
                .to_owned();
            op(content::export(
                &mut source,
                root,
                &name,
                &mut FsSink::new(),
            ))?;
        }
    }
    progress.finish_and_clear();
    std::fs::rename(&partial, &output).with_context(|| {
        format!(
            "cannot rename {} to {}",
            partial.display(),
            output.display()
        )
    })?;
    println!("Saving file(s) to {}", output.display());
    Ok(())
}

/// Where `get` writes before renaming to `output`: `.<name>.rhizo-partial` in its directory.
fn partial_path(output: &Path) -> Result<PathBuf> {
    let name = output
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no usable file name", output.display()))?;
    Ok(output.with_file_name(format!(".{name}.rhizo-partial")))
}

/// Removes what an earlier `get` killed midway left at `partial`.
fn remove_partial(partial: &Path) -> Result<()> {
    let removed = match std::fs::symlink_metadata(partial) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(partial),
        Ok(_) => std::fs::remove_file(partial),
    };
    removed.with_context(|| format!("cannot remove the partial {}", partial.display()))
}

/// Unpacks `get`'s tar archive at `output`: its first path component (the CID) becomes
/// `output`; paths with `..` or a root are refused, symlinks whose target leaves `output` are
/// skipped with a warning.
fn unpack(reader: impl Read, output: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        let path = entry.path().context("reading the archive")?.into_owned();
        let mut parts = path.components();
        parts.next();
        let mut target = output.to_owned();
        let mut depth = 0usize;
        for part in parts {
            match part {
                Component::Normal(p) => {
                    target.push(p);
                    depth += 1;
                }
                Component::CurDir => {}
                _ => bail!("the archive holds an unsafe path: {}", path.display()),
            }
        }
        if entry.header().entry_type().is_symlink() {
            let link = entry
                .link_name_bytes()
                .map(|l| l.into_owned())
                .unwrap_or_default();
            let inside =
                depth > 0 && rhizo_core::unixfs::symlink::target_stays_inside(depth - 1, &link);
            match (inside, std::str::from_utf8(&link), target.to_str()) {
                (true, Ok(link), Some(at)) => op(content::make_symlink(link, at))?,
                _ => tracing::warn!(
                    path = %target.display(), target = %String::from_utf8_lossy(&link),
                    "skipping a symlink that points outside the output directory"
                ),
            }
            continue;
        }
        if entry.header().entry_type().is_dir() {
            std::fs::create_dir_all(&target)
                .with_context(|| format!("cannot create {}", target.display()))?;
        } else {
            if let Some(parent) = target.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)?;
            }
            let mut file = std::fs::File::create(&target)
                .with_context(|| format!("cannot create {}", target.display()))?;
            std::io::copy(&mut entry, &mut file)
                .with_context(|| format!("writing {}", target.display()))?;
        }
    }
    Ok(())
}
