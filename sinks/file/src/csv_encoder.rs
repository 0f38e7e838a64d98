//! The flat CSV form of an indicator: one row per indicator, tags joined with `;`, and the
//! attributes as a JSON array in one column so that no attribute text is lost or split.

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
    let tags: Vec<&str> = indicator.tags.iter().map(|tag| tag.name.as_ref()).collect();
    let attributes = serde_json::to_string(&indicator.attributes)?;
    let rating = indicator.rating.to_string();
    let confidence = indicator.confidence.to_string();
    let offset = delivery.origin.offset.to_string();
    writer.write_record([
        indicator.indicator_type.as_str(),
        &indicator.summary,
        &rating,
        &confidence,
        &tags.join(";"),
        indicator.first_seen.as_deref().unwrap_or(""),
        indicator.last_seen.as_deref().unwrap_or(""),
        &attributes,
        delivery.origin.feed.name,
        &delivery.origin.source,
        &offset,
    ])?;
    Ok(())
}
