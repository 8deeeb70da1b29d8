//! `tierlog dump` and `tierlog verify`.

use std::path::Path;

use tierlog_tools::inspect::{dump_file, verify_dir};

use super::{dir_bytes, print_json};
use crate::output::{csv_field, table};
use crate::{Failure, Format, status};

pub fn dump(file: &Path, format: Format) -> Result<(), Failure> {
    if file.is_dir() {
        return Err(Failure::Usage(format!(
            "dump {}: a directory; dump shows one file of a store (e.g. {}/raw/*.seg), \
             `tierlog verify DIR` checks a whole store",
            file.display(),
            file.display()
        )));
    }
    let d = dump_file(file)?;
    match format {
        Format::Json => print_json(&d)?,
        Format::Csv => {
            println!("kind,offset,len,status,content");
            for i in &d.items {
                println!(
                    "{},{},{},{},{}",
                    i.kind,
                    i.offset,
                    i.len,
                    csv_field(&i.status),
                    csv_field(&i.content.to_string())
                );
            }
        }
        Format::Table => {
            println!("{}: {} file, {} bytes", file.display(), d.file_kind, d.size);
            let rows: Vec<Vec<String>> = d
                .items
                .iter()
                .map(|i| {
                    let mut c = i.content.to_string();
                    if c.len() > 160 {
                        let cut = (0..=157)
                            .rev()
                            .find(|&n| c.is_char_boundary(n))
                            .unwrap_or(0);
                        c.truncate(cut);
                        c.push('…');
                    }
                    vec![
                        i.kind.to_string(),
                        i.offset.to_string(),
                        i.len.to_string(),
                        i.status.clone(),
                        c,
                    ]
                })
                .collect();
            table(
                &mut std::io::stdout().lock(),
                &["KIND", "OFFSET", "LEN", "CHECKSUM", "CONTENT"],
                &rows,
            )?;
        }
    }
    status::summary(format_args!(
        "dumped {}: {} file, {} bytes, {} items, {} damaged",
        file.display(),
        d.file_kind,
        d.size,
        d.items.len(),
        d.problems
    ));
    if d.problems > 0 {
        return Err(Failure::Corruption(format!(
            "{}: {} damaged item(s), see the listing",
            file.display(),
            d.problems
        )));
    }
    Ok(())
}

pub fn verify(dir: &Path, format: Format) -> Result<(), Failure> {
    // A bar over the store's bytes: each file counts once the next one starts.
    let bar = status::bytes_bar("verify", dir_bytes(dir));
    let mut current = 0u64;
    let r = verify_dir(dir, |file| {
        bar.inc(current);
        current = std::fs::metadata(file).map_or(0, |m| m.len());
        let shown = file.strip_prefix(dir).unwrap_or(file);
        bar.set_message(shown.display().to_string());
    });
    bar.finish_and_clear();
    let r = r?;
    match format {
        Format::Json => print_json(&r)?,
        Format::Csv => {
            println!("severity,file,offset,message");
            for (sev, list) in [("corruption", &r.corruption), ("notice", &r.notices)] {
                for p in list {
                    println!(
                        "{sev},{},{},{}",
                        csv_field(&p.file.display().to_string()),
                        p.offset,
                        csv_field(&p.message)
                    );
                }
            }
        }
        Format::Table => {
            for p in &r.corruption {
                println!(
                    "CORRUPT {} at offset {}: {}",
                    p.file.display(),
                    p.offset,
                    p.message
                );
            }
            for p in &r.notices {
                println!(
                    "notice  {} at offset {}: {}",
                    p.file.display(),
                    p.offset,
                    p.message
                );
            }
        }
    }
    status::summary(format_args!(
        "verified {} files, {} bytes: {} checksummed items ok, {} corrupt, {} notices",
        r.files,
        r.bytes,
        r.items_ok,
        r.corruption.len(),
        r.notices.len()
    ));
    if !r.is_clean() {
        let first = &r.corruption[0];
        return Err(Failure::Corruption(format!(
            "corruption found: {} at offset {}: {}",
            first.file.display(),
            first.offset,
            first.message
        )));
    }
    Ok(())
}
