//! The model behind [`super::FaultFs`]: the live and durable views of the namespace and of
//! every file, the operation counter with its fault rules, and what a power loss keeps.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use super::{Fault, OpKind};

#[derive(Debug, Clone, Copy)]
pub(super) enum Entry {
    Dir,
    File(u64),
}

#[derive(Debug, Default, Clone)]
pub(super) struct Node {
    pub(super) data: Vec<u8>,
    pub(super) synced: Vec<u8>,
    /// `data[..clean] == synced[..clean]`.
    pub(super) clean: usize,
    pub(super) mode: u32,
}

#[derive(Debug, Clone)]
pub(super) struct Rule {
    pub(super) kind: Option<OpKind>,
    /// Fire at this count (of `kind`, or of every op); `None` = on every matching op.
    pub(super) at: Option<u64>,
    pub(super) fault: Fault,
}

#[derive(Debug, Default)]
pub(super) struct Inner {
    pub(super) dead: bool,
    pub(super) nodes: HashMap<u64, Node>,
    pub(super) next_ino: u64,
    pub(super) live: BTreeMap<PathBuf, Entry>,
    pub(super) durable: BTreeMap<PathBuf, Entry>,
    pub(super) locks: HashSet<PathBuf>,
    pub(super) ops: u64,
    pub(super) by_kind: HashMap<OpKind, u64>,
    pub(super) rules: Vec<Rule>,
    pub(super) faults_fired: u64,
    pub(super) short_writes: bool,
    pub(super) capacity: Option<u64>,
    pub(super) crash_at: Option<u64>,
    pub(super) survivor: Option<Box<Inner>>,
    /// With a seed, a power loss keeps a pseudo-random prefix of each file's unsynced appended
    /// bytes (the OS wrote some pages back before the power went).
    pub(super) torn_seed: Option<u64>,
}

pub(super) fn eio_dead() -> io::Error {
    io::Error::other("backend lost power")
}

pub(super) fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

impl Inner {
    pub(super) fn used(&self) -> u64 {
        self.live
            .values()
            .filter_map(|e| match e {
                Entry::File(ino) => Some(self.nodes[ino].data.len() as u64),
                Entry::Dir => None,
            })
            .sum()
    }

    /// Counts an operation and applies crash points and fault rules.
    pub(super) fn op(&mut self, kind: OpKind) -> io::Result<()> {
        if self.dead {
            return Err(eio_dead());
        }
        self.ops += 1;
        let nk = {
            let c = self.by_kind.entry(kind).or_insert(0);
            *c += 1;
            *c
        };
        if self.crash_at == Some(self.ops) {
            self.die();
            return Err(eio_dead());
        }
        let ops = self.ops;
        let hit = self.rules.iter().position(|r| match (r.kind, r.at) {
            (None, Some(at)) => at == ops,
            (Some(k), Some(at)) => k == kind && at == nk,
            (None, None) => true,
            (Some(k), None) => k == kind,
        });
        if let Some(i) = hit {
            let fault = self.rules[i].fault;
            if self.rules[i].at.is_some() {
                self.rules.remove(i);
            }
            self.faults_fired += 1;
            return Err(fault.error());
        }
        Ok(())
    }

    /// Takes the durable snapshot and stops serving calls.
    pub(super) fn die(&mut self) {
        self.dead = true;
        let mut live = BTreeMap::new();
        for (p, e) in &self.durable {
            // An entry survives only if every ancestor directory entry did too.
            let mut ok = true;
            let mut a = p.parent();
            while let Some(d) = a {
                if d.as_os_str().is_empty() || d.parent().is_none() {
                    break;
                }
                if !matches!(self.durable.get(d), Some(Entry::Dir)) {
                    ok = false;
                    break;
                }
                a = d.parent();
            }
            if ok {
                live.insert(p.clone(), *e);
            }
        }
        let mut nodes = HashMap::new();
        let mut rng = self
            .torn_seed
            .map(|s| s.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut inos: Vec<u64> = live
            .values()
            .filter_map(|e| match e {
                Entry::File(ino) => Some(*ino),
                Entry::Dir => None,
            })
            .collect();
        inos.sort_unstable();
        for ino in inos {
            let n = &self.nodes[&ino];
            let mut data = n.synced.clone();
            if let Some(x) = rng.as_mut()
                && n.clean >= n.synced.len()
                && n.data.len() > n.synced.len()
            {
                // xorshift64
                *x ^= *x << 13;
                *x ^= *x >> 7;
                *x ^= *x << 17;
                let extra = (*x % (n.data.len() - n.synced.len() + 1) as u64) as usize;
                data.extend_from_slice(&n.data[n.synced.len()..n.synced.len() + extra]);
            }
            nodes.insert(
                ino,
                Node {
                    clean: data.len(),
                    synced: data.clone(),
                    data,
                    mode: n.mode,
                },
            );
        }
        self.survivor = Some(Box::new(Inner {
            nodes,
            next_ino: self.next_ino,
            durable: live.clone(),
            live,
            ..Inner::default()
        }));
    }

    /// A fresh, running copy of a survivor snapshot.
    pub(super) fn revive(&self) -> Inner {
        Inner {
            nodes: self.nodes.clone(),
            next_ino: self.next_ino,
            live: self.live.clone(),
            durable: self.durable.clone(),
            ..Inner::default()
        }
    }

    pub(super) fn file(&self, path: &Path) -> io::Result<u64> {
        match self.live.get(path) {
            Some(Entry::File(ino)) => Ok(*ino),
            Some(Entry::Dir) => Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{}: is a directory", path.display()),
            )),
            None => Err(not_found(path)),
        }
    }

    pub(super) fn check_parent(&self, path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => match self.live.get(p) {
                Some(Entry::Dir) => Ok(()),
                _ => Err(not_found(p)),
            },
            _ => Ok(()),
        }
    }

    pub(super) fn new_file(&mut self, path: &Path, mode: u32) -> u64 {
        self.next_ino += 1;
        let ino = self.next_ino;
        self.nodes.insert(
            ino,
            Node {
                mode,
                ..Node::default()
            },
        );
        self.live.insert(path.to_owned(), Entry::File(ino));
        ino
    }
}
