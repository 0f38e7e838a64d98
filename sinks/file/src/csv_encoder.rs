//! The flat CSV form of an indicator: one row per indicator, tags joined with `;`, and the
//! attributes as a JSON array in one column so that no attribute text is lost or split. A `;` or
//! `\` inside a tag name is written with a backslash before it (`a\;b`), so the tags column
//! splits back into the same tags.

use std::io;

use feedpipe_pipeline::Delivery;

/// The header row, with its line end.
pub const CSV_HEADER: &str =
    "type,summary,rating,confidence,tags,first_seen,last_seen,attributes,feed,file,offset\n";

/// Writes one indicator as a CSV row.
pub fn write_csv_row<W: io::Write>(
    writer: &mut csv::Writer<W>,
    delivery: &Delivery,
) -> io::Result<()> {
    let indicator = &delivery.indicator;
    let tags = join_tags(indicator.tags.iter().map(|tag| tag.name.as_ref()));
    let attributes = serde_json::to_string(&indicator.attributes)?;
    let rating = indicator.rating.to_string();
    let confidence = indicator.confidence.to_string();
    let offset = delivery.origin.offset.to_string();
    writer.write_record([
        indicator.indicator_type.as_str(),
        &indicator.summary,
        &rating,
        &confidence,
        &tags,
        indicator.first_seen.as_deref().unwrap_or(""),
        indicator.last_seen.as_deref().unwrap_or(""),
        &attributes,
        delivery.origin.feed.name,
        &delivery.origin.source,
        &offset,
    ])?;
    Ok(())
}

/// Joins tag names with `;`, escaping `;` and `\` inside a name with a backslash.
fn join_tags<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut joined = String::new();
    for (index, name) in names.enumerate() {
        if index > 0 {
            joined.push(';');
        }
        for character in name.chars() {
            if matches!(character, ';' | '\\') {
                joined.push('\\');
            }
            joined.push(character);
        }
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_join_with_escapes() {
        let names = ["Kaspersky", "a;b", "c\\d", ""];
        assert_eq!(join_tags(names.into_iter()), "Kaspersky;a\\;b;c\\\\d;");
    }

    #[test]
    fn plain_tags_join_unchanged() {
        assert_eq!(join_tags(["x", "y"].into_iter()), "x;y");
        assert_eq!(join_tags(std::iter::empty()), "");
    }
}
