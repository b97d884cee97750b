//! The MDS's status page in a real browser: headless Chromium driven over
//! WebDriver (chromedriver) loads it, finds each chunk server's row and the
//! cluster status, and takes a screenshot that must be a PNG with
//! something drawn on it.

mod common;
mod ops_support;

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::TestCluster;
use fantoccini::{ClientBuilder, Locator};
use ops_support::{eventually, free_addr, http_get};

/// chromedriver, killed on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Distinct colours of a PNG, counted up to `limit`; panics when the
/// bytes are not a PNG.
fn distinct_colours(png_bytes: &[u8], limit: usize) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("the screenshot is a PNG");
    // Room for the widest pixels (16-bit RGBA): more than any frame needs.
    let (w, h) = (reader.info().width as usize, reader.info().height as usize);
    let mut buf = vec![0; w * h * 8];
    let info = reader.next_frame(&mut buf).expect("decode the screenshot");
    let px = info.color_type.samples();
    let mut seen = std::collections::HashSet::new();
    for p in buf[..info.buffer_size()].chunks(px) {
        seen.insert(p.to_vec());
        if seen.len() >= limit {
            break;
        }
    }
    (info.width, info.height, seen.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_shows_each_chunk_server_in_chromium() {
    let mut cluster = TestCluster::start(&["h1", "h2", "h3"]);
    let page_addr = free_addr();
    cluster.restart_mds(&["--metrics-listen", &page_addr]);
    eventually(Duration::from_secs(20), "the status page", || {
        http_get(&page_addr, "/").ok().filter(|(s, _)| *s == 200)
    });

    let driver_addr = free_addr();
    let port = driver_addr.rsplit(':').next().expect("a port").to_string();
    let _driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (conformance/install-deps installs chromium-driver)"),
    );
    eventually(Duration::from_secs(20), "chromedriver to listen", || {
        std::net::TcpStream::connect(&driver_addr).ok()
    });

    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_string(),
        serde_json::json!({
            // As root in a container: no sandbox, no GPU.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,900"]
        }),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://{driver_addr}"))
        .await
        .expect("a WebDriver session in headless Chromium");

    let checked = async {
        browser
            .goto(&format!("http://{page_addr}/"))
            .await
            .expect("load the status page");
        let title = browser.title().await.expect("the page's title");
        assert!(title.starts_with("cairn test"), "title {title}");
        let status = browser
            .find(Locator::Id("status"))
            .await
            .expect("the cluster status")
            .text()
            .await
            .expect("its text");
        assert!(
            ["healthy", "degraded", "failure"].contains(&status.as_str()),
            "{status}"
        );
        let rows = browser
            .find_all(Locator::Css("table#cs tr.cs"))
            .await
            .expect("the chunk-server rows");
        assert_eq!(rows.len(), 3, "one row per chunk server");
        let mut hosts = Vec::new();
        for row in rows {
            let text = row.text().await.expect("a row's text");
            assert!(text.contains("active"), "row {text}");
            hosts.extend(["h1", "h2", "h3"].into_iter().filter(|h| text.contains(h)));
        }
        hosts.sort_unstable();
        assert_eq!(hosts, ["h1", "h2", "h3"]);
        let shot = browser.screenshot().await.expect("a screenshot");
        let (w, h, colours) = distinct_colours(&shot, 64);
        assert!(w > 0 && h > 0, "an empty screenshot");
        assert!(
            colours > 8,
            "the screenshot looks blank ({colours} colours)"
        );
        if let Some(dir) = std::env::var_os("CAIRN_SCREENSHOT_DIR") {
            let _ = std::fs::write(std::path::Path::new(&dir).join("status-page.png"), &shot);
        }
    };
    checked.await;
    browser.close().await.expect("end the WebDriver session");
}
