//! The fault-injecting backend itself: power loss keeps exactly what was synced (file contents
//! and directory entries), the Nth operation fails, short writes are short, a full disk
//! refuses growth; and the store's files get mode 0600.

use std::path::Path;
use std::sync::Arc;

use tierlog::vfs::{Create, Fault, FaultFs, OpKind, Vfs};

fn p(s: &str) -> &Path {
    Path::new(s)
}

fn write(fs: &FaultFs, path: &str, bytes: &[u8]) -> Box<dyn tierlog::vfs::VfsFile> {
    let f = fs.create(p(path), Create::Truncate, 0o600).unwrap();
    tierlog::vfs::write_all_at(&*f, bytes, 0).unwrap();
    f
}

#[test]
fn power_loss_discards_unsynced_contents() {
    let fs = FaultFs::new();
    fs.create_dir_all(p("/d")).unwrap();
    fs.sync_dir(p("/")).unwrap();
    let f = write(&fs, "/d/a", b"hello");
    fs.sync_dir(p("/d")).unwrap();
    f.sync().unwrap();
    tierlog::vfs::write_all_at(&*f, b" world", 5).unwrap();
    assert_eq!(fs.contents(p("/d/a")).unwrap(), b"hello world");
    let after = fs.power_loss();
    assert_eq!(after.contents(p("/d/a")).unwrap(), b"hello");
    // The old backend and its handles are dead.
    assert!(f.write_at(b"x", 0).is_err());
    assert!(fs.metadata(p("/d/a")).is_err());
    // A truncation that was not synced is undone too.
    let f = after.open(p("/d/a"), true).unwrap();
    f.set_len(2).unwrap();
    let again = after.power_loss();
    assert_eq!(again.contents(p("/d/a")).unwrap(), b"hello");
}

#[test]
fn power_loss_discards_unsynced_directory_entries() {
    let fs = FaultFs::new();
    fs.create_dir_all(p("/d")).unwrap();
    fs.sync_dir(p("/")).unwrap();
    // Synced contents, but the entry was never made durable: gone.
    let f = write(&fs, "/d/new", b"x");
    f.sync().unwrap();
    // A durable file, then renamed without a directory sync: the old name survives.
    let g = write(&fs, "/d/old", b"y");
    g.sync().unwrap();
    fs.sync_dir(p("/d")).unwrap();
    fs.rename(p("/d/old"), p("/d/renamed")).unwrap();
    // A durable file removed without a directory sync comes back.
    fs.remove(p("/d/new")).unwrap();
    let after = fs.power_loss();
    let paths = after.paths();
    assert!(paths.contains(&"/d/old".into()), "{paths:?}");
    assert!(!paths.contains(&"/d/renamed".into()), "{paths:?}");
    assert!(
        paths.contains(&"/d/new".into()),
        "synced before removal: {paths:?}"
    );

    // A directory whose parent was never synced is lost with everything in it.
    let fs = FaultFs::new();
    fs.create_dir_all(p("/a/b")).unwrap();
    let f = write(&fs, "/a/b/f", b"z");
    f.sync().unwrap();
    fs.sync_dir(p("/a/b")).unwrap();
    let after = fs.power_loss();
    assert!(after.contents(p("/a/b/f")).is_none());
}

#[test]
fn nth_operation_fails_once() {
    let fs = FaultFs::new();
    fs.create_dir_all(p("/d")).unwrap();
    fs.fail_op(2, Fault::Eio);
    fs.metadata(p("/d")).unwrap();
    assert!(fs.metadata(p("/d")).is_err());
    fs.metadata(p("/d")).unwrap();
    // The 2nd write from now fails, the others do not.
    let f = write(&fs, "/d/a", b"a");
    fs.fail_nth(OpKind::Write, 2, Fault::NoSpace);
    f.write_at(b"b", 1).unwrap();
    let e = f.write_at(b"c", 2).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
    f.write_at(b"c", 2).unwrap();
    assert_eq!(fs.contents(p("/d/a")).unwrap(), b"abc");
    assert_eq!(fs.faults_fired(), 2);
}

#[test]
fn short_writes_and_full_disk() {
    let fs = FaultFs::new();
    fs.create_dir_all(p("/d")).unwrap();
    fs.set_short_writes(true);
    let f = fs.create(p("/d/a"), Create::New, 0o600).unwrap();
    assert_eq!(f.write_at(b"abcd", 0).unwrap(), 2);
    // write_all_at loops until all is written.
    tierlog::vfs::write_all_at(&*f, b"abcdefgh", 0).unwrap();
    assert_eq!(fs.contents(p("/d/a")).unwrap(), b"abcdefgh");
    fs.set_short_writes(false);
    fs.set_capacity(Some(10));
    // Overwriting in place needs no space; growing past the capacity writes what fits.
    assert_eq!(f.write_at(b"ABCD", 0).unwrap(), 4);
    assert_eq!(f.write_at(b"1234", 8).unwrap(), 2);
    let e = f.write_at(b"x", 10).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
    assert_eq!(
        f.set_len(11).unwrap_err().kind(),
        std::io::ErrorKind::StorageFull
    );
    // Shrinking always works, and frees space.
    f.set_len(4).unwrap();
    assert_eq!(f.write_at(b"xyz", 4).unwrap(), 3);
    assert_eq!(fs.used_bytes(), 7);
}

#[test]
fn crash_point_stops_every_later_operation() {
    let fs = FaultFs::new();
    fs.create_dir_all(p("/d")).unwrap();
    fs.sync_dir(p("/")).unwrap();
    fs.crash_at(3);
    let f = write(&fs, "/d/a", b"abc"); // create (1), write (2)
    assert!(fs.survivor().is_none());
    assert!(f.sync().is_err()); // (3): power is lost before it runs
    assert!(fs.crashed());
    assert!(fs.metadata(p("/d")).is_err());
    let after = fs.survivor().unwrap();
    assert!(after.metadata(p("/d")).is_ok());
    assert!(after.contents(p("/d/a")).is_none());
}

#[test]
fn store_files_are_created_owner_only() {
    let fs = FaultFs::new();
    let store = tierlog::Store::open(
        "/db",
        tierlog::Config::default().with_vfs(Arc::new(fs.clone())),
    )
    .unwrap();
    store.close().unwrap();
    let files: Vec<_> = fs
        .paths()
        .into_iter()
        .filter(|p| fs.mode(p).is_some())
        .collect();
    assert!(files.len() >= 3, "{files:?}");
    for f in files {
        assert_eq!(fs.mode(&f), Some(0o600), "{}", f.display());
    }
}

#[cfg(unix)]
#[test]
fn store_files_on_disk_are_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = tierlog::Store::open(dir.path(), tierlog::Config::default()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    store
        .write(&[tierlog::Sample::new("m", &[("a", "b")], now, 1.0)])
        .unwrap();
    store.close().unwrap();
    let mut seen = 0;
    let mut stack = vec![dir.path().to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                seen += 1;
                assert_eq!(
                    m.permissions().mode() & 0o777,
                    0o600,
                    "{}",
                    e.path().display()
                );
            }
        }
    }
    assert!(seen >= 4, "{seen} files");
    // Another mode is honoured (within the umask).
    let dir = tempfile::tempdir().unwrap();
    let config = tierlog::Config {
        file_mode: 0o640,
        ..tierlog::Config::default()
    };
    tierlog::Store::open(dir.path(), config)
        .unwrap()
        .close()
        .unwrap();
    let m = std::fs::metadata(dir.path().join(tierlog::layout::INDEX_FILE)).unwrap();
    assert_eq!(m.permissions().mode() & 0o600, 0o600);
}

#[test]
fn the_lock_is_taken_through_the_backend() {
    let fs = FaultFs::new();
    let config = || tierlog::Config::default().with_vfs(Arc::new(fs.clone()));
    let store = tierlog::Store::open("/db", config()).unwrap();
    assert!(matches!(
        tierlog::Store::open("/db", config()),
        Err(tierlog::Error::Locked { .. })
    ));
    drop(store);
    tierlog::Store::open("/db", config()).unwrap();
}

#[test]
fn the_store_works_with_short_writes() {
    // Every write of the backend writes at most half of what it is given: the store loops.
    let fs = FaultFs::new();
    fs.set_short_writes(true);
    let t0 = 1_700_000_040_000;
    let clock = Arc::new(tierlog::ManualClock::new(t0));
    let config = || {
        tierlog::Config {
            maintenance_interval: None,
            ..tierlog::Config::default()
        }
        .with_vfs(Arc::new(fs.clone()))
        .with_clock(clock.clone())
        .with_window_span(std::time::Duration::from_secs(60))
    };
    let store = tierlog::Store::open("/db", config()).unwrap();
    for k in 0..40 {
        let ts = t0 + k * 15_000;
        clock.set(ts);
        let s = format!("s{}", k % 5);
        store
            .write(&[tierlog::Sample::new("m", &[("s", &s)], ts, k as f64)])
            .unwrap();
    }
    store.maintain().unwrap();
    let q = |s: &tierlog::Store| {
        s.query(&tierlog::Selector::metric("m"), 0, i64::MAX / 2)
            .unwrap()
            .series
            .iter()
            .map(|s| s.points.len())
            .sum::<usize>()
    };
    assert_eq!(q(&store), 40);
    store.close().unwrap();
    let store = tierlog::Store::open("/db", config()).unwrap();
    assert_eq!(q(&store), 40);
    assert!(fs.paths().iter().any(tierlog_testkit::helpers::is_segment));
}
