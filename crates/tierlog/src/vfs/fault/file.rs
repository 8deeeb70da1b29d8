//! An open file of [`super::FaultFs`].

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::state::{Entry, Inner};
use super::{Fault, OpKind};
use crate::vfs::backend::VfsFile;

#[derive(Debug)]
pub(super) struct FaultFile {
    pub(super) fs: Arc<Mutex<Inner>>,
    pub(super) ino: u64,
    pub(super) path: PathBuf,
    pub(super) write: bool,
    pub(super) lock: bool,
}

impl FaultFile {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.fs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FaultFile {
    fn drop(&mut self) {
        if self.lock {
            let path = self.path.clone();
            self.inner().locks.remove(&path);
        }
    }
}

fn read_only(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{}: opened read-only", path.display()),
    )
}

impl VfsFile for FaultFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut g = self.inner();
        g.op(OpKind::Read)?;
        let data = &g.nodes[&self.ino].data;
        let start = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let mut g = self.inner();
        g.op(OpKind::Write)?;
        if !self.write {
            return Err(read_only(&self.path));
        }
        let mut n = buf.len();
        if g.short_writes && n > 1 {
            n /= 2;
        }
        let cur = g.nodes[&self.ino].data.len() as u64;
        let end = offset + n as u64;
        if let Some(cap) = g.capacity
            && end > cur
        {
            let linked = g
                .live
                .values()
                .any(|e| matches!(e, Entry::File(i) if *i == self.ino));
            let used = g.used();
            let free = cap.saturating_sub(used);
            let grow = end - cur.max(offset);
            if linked && grow > free {
                let fits = (free + cur.saturating_sub(offset)) as usize;
                if fits == 0 || n == 0 {
                    g.faults_fired += 1;
                    return Err(Fault::NoSpace.error());
                }
                n = n.min(fits);
            }
        }
        let node = g.nodes.get_mut(&self.ino).expect("open inode");
        let (o, end) = (offset as usize, offset as usize + n);
        if node.data.len() < end {
            node.data.resize(end, 0);
        }
        node.data[o..end].copy_from_slice(&buf[..n]);
        node.clean = node.clean.min(o);
        Ok(n)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut g = self.inner();
        g.op(OpKind::SetLen)?;
        if !self.write {
            return Err(read_only(&self.path));
        }
        let cur = g.nodes[&self.ino].data.len() as u64;
        if let Some(cap) = g.capacity
            && len > cur
            && len - cur > cap.saturating_sub(g.used())
        {
            g.faults_fired += 1;
            return Err(Fault::NoSpace.error());
        }
        let node = g.nodes.get_mut(&self.ino).expect("open inode");
        node.data.resize(len as usize, 0);
        node.clean = node.clean.min(len as usize);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut g = self.inner();
        g.op(OpKind::Sync)?;
        let node = g.nodes.get_mut(&self.ino).expect("open inode");
        let k = node.clean.min(node.synced.len());
        node.synced.truncate(k);
        node.synced.extend_from_slice(&node.data[k..]);
        node.clean = node.data.len();
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let mut g = self.inner();
        g.op(OpKind::Metadata)?;
        Ok(g.nodes[&self.ino].data.len() as u64)
    }
}
