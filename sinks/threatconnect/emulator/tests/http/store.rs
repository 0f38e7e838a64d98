//! The upsert store over HTTP: write types, File merging, Delete jobs and the read-only views.

use serde_json::{Value, json};

use crate::client::{Client, OWNER, batch, job_config};

fn sourced_host(source: &str, tags: &[&str]) -> Value {
    let tags: Vec<Value> = tags.iter().map(|name| json!({"name": name})).collect();
    json!({
        "type": "Host", "summary": "a.example.com", "rating": 2, "confidence": 40,
        "tag": tags,
        "attribute": [{"type": "Source", "value": source}],
    })
}

#[tokio::test]
async fn append_resend_duplicates_attributes() {
    let client = Client::start_default().await;
    let mut config = job_config(false, "Append");
    config["tagWriteType"] = json!("Append");
    for _ in 0..2 {
        client
            .run_job(&config, batch(vec![sourced_host("feed", &["Kaspersky"])]))
            .await;
    }
    let stored = client.emulator.indicators();
    assert_eq!(stored.len(), 1);
    let sources: Vec<&str> = stored[0]
        .attributes
        .iter()
        .map(|attribute| attribute.value.as_str())
        .collect();
    assert_eq!(sources, vec!["feed", "feed"]);
    assert_eq!(stored[0].tags, vec!["Kaspersky".to_owned()]);
}

#[tokio::test]
async fn replace_resend_keeps_one_copy() {
    let client = Client::start_default().await;
    let config = job_config(false, "Replace");
    client
        .run_job(&config, batch(vec![sourced_host("old", &["A", "B"])]))
        .await;
    client
        .run_job(&config, batch(vec![sourced_host("new", &["C"])]))
        .await;
    let stored = client.emulator.indicators();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].attributes.len(), 1);
    assert_eq!(stored[0].attributes[0].value, "new");
    assert_eq!(stored[0].tags, vec!["C".to_owned()]);
}

#[tokio::test]
async fn tag_append_unions_tags() {
    let client = Client::start_default().await;
    let mut config = job_config(false, "Replace");
    config["tagWriteType"] = json!("Append");
    client
        .run_job(&config, batch(vec![sourced_host("s", &["A"])]))
        .await;
    client
        .run_job(&config, batch(vec![sourced_host("s", &["B", "a"])]))
        .await;
    let stored = client.emulator.indicators();
    assert_eq!(stored[0].tags, vec!["A".to_owned(), "B".to_owned()]);
}

#[tokio::test]
async fn singleton_replaces_sent_types() {
    let client = Client::start_default().await;
    let mut first = sourced_host("feed", &[]);
    first["attribute"] = json!([
        {"type": "Source", "value": "feed"},
        {"type": "Category", "value": "malware"},
    ]);
    client
        .run_job(&job_config(false, "Append"), batch(vec![first]))
        .await;
    client
        .run_job(
            &job_config(false, "Singleton"),
            batch(vec![sourced_host("feed2", &[])]),
        )
        .await;
    let stored = client.emulator.indicators();
    let attributes: Vec<(&str, &str)> = stored[0]
        .attributes
        .iter()
        .map(|attribute| (attribute.attribute_type.as_ref(), attribute.value.as_str()))
        .collect();
    assert_eq!(
        attributes,
        vec![("Category", "malware"), ("Source", "feed2")]
    );
}

#[tokio::test]
async fn update_keeps_identity_and_fields() {
    let client = Client::start_default().await;
    let config = job_config(false, "Replace");
    let mut first = sourced_host("s", &["A"]);
    first["firstSeen"] = json!("2015-01-21T00:00:00Z");
    client.run_job(&config, batch(vec![first])).await;
    let mut second = sourced_host("s", &["A"]);
    second["rating"] = json!(5);
    second["lastSeen"] = json!("2016-02-01T00:00:00Z");
    client.run_job(&config, batch(vec![second])).await;

    let stored = client.emulator.indicators();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].rating, Some(5.0));
    assert_eq!(stored[0].confidence, Some(40));
    assert_eq!(
        stored[0].first_seen.as_deref(),
        Some("2015-01-21T00:00:00Z")
    );
    assert_eq!(stored[0].last_seen.as_deref(), Some("2016-02-01T00:00:00Z"));
    assert_eq!(stored[0].owner, OWNER);
    assert_eq!(stored[0].created_by_job, 1);
    assert_eq!(stored[0].updated_by_job, 2);
}

#[tokio::test]
async fn version_one_drops_dates() {
    let client = Client::start_default().await;
    let mut config = job_config(false, "Replace");
    config["version"] = json!("V1");
    let mut item = sourced_host("s", &[]);
    item["firstSeen"] = json!("2015-01-21T00:00:00Z");
    client.run_job(&config, batch(vec![item])).await;
    assert_eq!(client.emulator.indicators()[0].first_seen, None);
}

#[tokio::test]
async fn file_hashes_merge_across_jobs() {
    let client = Client::start_default().await;
    let md5 = "905AD8176A569A36421BF54C04BA7F95";
    let sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    let config = job_config(false, "Replace");
    client
        .run_job(
            &config,
            batch(vec![json!({"type": "File", "summary": md5})]),
        )
        .await;
    client
        .run_job(
            &config,
            batch(vec![json!({"type": "File", "md5": md5, "sha256": sha256})]),
        )
        .await;
    let stored = client.emulator.indicators();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].summary, format!("{md5} : {sha256}"));
    assert_eq!(stored[0].sha256.as_deref(), Some(sha256));
}

#[tokio::test]
async fn delete_job_removes_indicator() {
    let client = Client::start_default().await;
    let items = vec![
        json!({"type": "Host", "summary": "a.example.com"}),
        json!({"type": "Host", "summary": "b.example.com"}),
    ];
    client
        .run_job(&job_config(false, "Replace"), batch(items))
        .await;

    let mut delete = job_config(false, "Replace");
    delete["action"] = json!("Delete");
    let items = vec![
        json!({"type": "Host", "summary": "a.example.com"}),
        json!({"type": "Host", "summary": "missing.example.com"}),
    ];
    let (id, status) = client.run_job(&delete, batch(items)).await;
    assert_eq!(status["successCount"], 1);
    assert_eq!(status["errorCount"], 1);
    let errors = client.errors(id).await;
    let reason = errors[0]["errorReason"].as_str().unwrap();
    assert!(reason.contains("does not exist"), "{reason}");
    let stored = client.emulator.indicators();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].summary, "b.example.com");
}

#[tokio::test]
async fn http_views_match_rust_views() {
    let client = Client::start_default().await;
    let items = vec![
        sourced_host("s", &["A"]),
        json!({"type": "Address", "summary": "192.0.2.1"}),
    ];
    let (id, _) = client
        .run_job(&job_config(false, "Replace"), batch(items))
        .await;

    let indicators = client.admin("/indicators").await;
    assert_eq!(
        indicators,
        serde_json::to_value(client.emulator.indicators()).unwrap()
    );
    let host = &indicators[0];
    assert_eq!(host["type"], "Host");
    assert_eq!(host["summary"], "a.example.com");
    assert_eq!(host["owner"], OWNER);
    assert_eq!(host["rating"], 2.0);
    assert_eq!(host["confidence"], 40);
    assert_eq!(host["tags"], json!(["A"]));
    assert_eq!(host["attributes"][0]["type"], "Source");

    let filtered = client.admin("/indicators?type=Address").await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);

    let jobs = client.admin("/jobs").await;
    assert_eq!(jobs, serde_json::to_value(client.emulator.jobs()).unwrap());
    assert_eq!(jobs[0]["id"], id);
    assert_eq!(jobs[0]["status"], "Completed");
    assert_eq!(jobs[0]["counts"]["successCount"], 2);
    let job = client.admin(&format!("/jobs/{id}")).await;
    assert_eq!(job["config"]["owner"], OWNER);
}

#[tokio::test]
async fn reset_forgets_everything() {
    let client = Client::start_default().await;
    client
        .run_job(
            &job_config(false, "Replace"),
            batch(vec![sourced_host("s", &[])]),
        )
        .await;
    let response = client
        .http
        .post(format!("{}/_emulator/reset", client.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert!(client.emulator.indicators().is_empty());
    assert!(client.emulator.jobs().is_empty());
    assert!(client.emulator.requests().is_empty());
}
