//! `tierlog dump` and `tierlog verify`.

use std::path::Path;

use tierlog::inspect::{dump_file, verify_dir};

use super::print_json;
use crate::output::{csv_field, table};
use crate::{Failure, Format};

pub fn dump(file: &Path, format: Format) -> Result<(), Failure> {
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
    let r = verify_dir(dir, |_| {})?;
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
    eprintln!(
        "verified {} files, {} bytes: {} checksummed items ok, {} corrupt, {} notices",
        r.files,
        r.bytes,
        r.items_ok,
        r.corruption.len(),
        r.notices.len()
    );
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
