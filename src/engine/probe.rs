//! One probe: one entry on one site, every supported query, every page,
//! then the matcher. Fetch failures and pages the adapter cannot read are
//! `inconclusive`, never `clean`. Which requests read a page is the
//! adapter's business (`sites::Search`): the engine only sends them.

use crate::domain::pseudonym::Pseudonymizer;
use crate::domain::{Entry, Listing, Outcome, matcher};
use crate::fetch::FailKind;
use crate::sites::{Page, Query, Request, Search, Verdict};

use super::Site;

/// Result pages read per query before giving up as inconclusive: a reverse
/// lookup with more than 100 hits is not an answer we can vouch for.
pub(crate) const MAX_PAGES: u32 = 4;

/// What one probe found, ready to record. Its `Debug` leaves the page
/// out (it shows what was searched for).
#[derive(Clone)]
pub(crate) struct ProbeResult {
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub page_sha256: Option<String>,
    pub url_masked: String,
    /// The deciding page's body (kept by the store as evidence when needed).
    pub body: Option<Vec<u8>>,
    /// Exposed: keyed fingerprints of the listings that matched (empty
    /// when probed without a [`Lens`]).
    pub listing_keys: Vec<String>,
    /// When the deciding page arrived (before it was parsed or recorded):
    /// the probe's time. For a clean probe, the last page it needed.
    pub decided_at: Option<time::OffsetDateTime>,
    /// Inconclusive because the site's answer could not be read (a page
    /// the adapter does not understand, a challenge, an error status, no
    /// answer at all), as opposed to a request never sent (robots.txt) or
    /// a search too big to vouch for. A run of these is what makes the
    /// scheduler check the canaries at once.
    pub unreadable: bool,
}

impl std::fmt::Debug for ProbeResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeResult")
            .field("outcome", &self.outcome)
            .field("http_status", &self.http_status)
            .field("page_sha256", &self.page_sha256)
            .field("url_masked", &self.url_masked)
            .field(
                "body",
                &self.body.as_ref().map(|b| format!("[{} bytes]", b.len())),
            )
            .field("listing_keys", &self.listing_keys.len())
            .field("decided_at", &self.decided_at)
            .field("unreadable", &self.unreadable)
            .finish()
    }
}

/// How the engine looks at listings: fingerprinted with the store's key,
/// minus the ones an analyst dismissed as false positives for this entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lens<'a> {
    pub pseudo: &'a Pseudonymizer,
    pub dismissed: &'a [String],
}

/// The queries an entry needs on a site: always its number (a listing found
/// by number shows both the number and any address), plus a name search in
/// its place when the address is protected and a name is known, since a
/// leaked address may sit under another number.
pub(crate) fn queries_for(entry: &Entry) -> Vec<Query> {
    let mut q = vec![Query::Number(entry.phone.clone())];
    if entry.hide_address
        && let (Some(name), Some(addr)) = (&entry.name, &entry.address)
    {
        let place = [addr.postcode.as_deref(), addr.city.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let short = search_name(name);
        if !place.is_empty() && !short.is_empty() {
            q.push(Query::NameAt { name: short, place });
        }
    }
    q
}

/// The name to search for: first given name and last surname only, because
/// directories print middle names in many ways ("Birthe Ø. Lund") and every
/// word we send must match. A roster name written surname first ("Lund,
/// Birthe") is turned round, and the comma dropped, since it is not part of
/// any printed name. The matcher then decides on the full name.
fn search_name(name: &str) -> String {
    let (first, last) = match name.split_once(',') {
        Some((surname, given)) => (
            given.split_whitespace().next(),
            surname.split_whitespace().last(),
        ),
        None => {
            let words: Vec<&str> = name.split_whitespace().collect();
            match words.as_slice() {
                [f, .., l] => (Some(*f), Some(*l)),
                [only] => (Some(*only), None),
                [] => (None, None),
            }
        }
    };
    [first, last]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

/// One page of one query, fetched and read.
struct PageResult {
    page: Result<Page, String>,
    /// When the answer was in (the body read whole), before parsing.
    arrived: time::OffsetDateTime,
    /// Whether an `Err` page means the site's answer was unreadable (see
    /// [`ProbeResult::unreadable`]).
    unreadable: bool,
    http_status: Option<u16>,
    sha256: Option<String>,
    url_masked: String,
    body: Option<String>,
}

/// Page `page_no` of `search`: the request the adapter asks for, and any
/// it asks for instead once it has seen the answer's status (Eniro: a
/// stale `buildId`). The result is the last answer's.
async fn read_page(site: &Site, search: &mut Search, page_no: u32) -> PageResult {
    let mut req = search.request(page_no);
    loop {
        // The adapter's redacted form: nothing else of a request is kept.
        let url_masked = req.stored.clone();
        let mut fetched = site.fetcher.get(&req.path).await;
        // Taken before anything else can stall this task (parsing on the
        // blocking pool, the recorder's commit): a page read before a
        // layout change must not be stamped as if read after it.
        let arrived = time::OffsetDateTime::now_utc();
        let unreadable = !matches!(
            fetched.failure,
            Some(FailKind::RobotsDisallowed | FailKind::RobotsUnavailable(_))
        );
        let page = match search.verdict(&req, fetched.status) {
            Verdict::Retry(next) => {
                req = next;
                continue;
            }
            Verdict::GiveUp(reason) => Err(reason.to_string()),
            Verdict::Read => match (&fetched.failure, fetched.body.take()) {
                (Some(f), body) => {
                    fetched.body = body;
                    Err(f.to_string())
                }
                (None, None) => Err("no body".to_string()),
                (None, Some(body)) => {
                    // The body goes to the parser and comes back: no copy.
                    let (page, body) = read_body(search, &req, body).await;
                    fetched.body = body;
                    page
                }
            },
        };
        return PageResult {
            page,
            arrived,
            unreadable,
            http_status: fetched.status,
            sha256: fetched.sha256,
            url_masked,
            body: fetched.body,
        };
    }
}

/// Pages parsed at once, process-wide: one per core. Parsing is pure CPU,
/// so more at once only adds blocking-pool threads (each with its stack
/// and malloc arena: with three sites at concurrency 8, some 80 threads and
/// 20 MB of RSS) and context switches, not throughput; the probes queue for
/// a permit instead.
static PARSERS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

/// Reads `body` with the search's adapter on the blocking pool: parsing is
/// CPU work on a possibly large page, and a panic in a parser must not take
/// the daemon down (the page is then unread, and its body is lost with the
/// task: an inconclusive probe keeps no evidence). The body is moved there
/// and back, never copied.
async fn read_body(
    search: &mut Search,
    req: &Request,
    body: String,
) -> (Result<Page, String>, Option<String>) {
    let (mut s, req) = (search.clone(), req.clone());
    // Never closed, so the permit always comes.
    let _parsing = PARSERS.acquire().await.ok();
    match tokio::task::spawn_blocking(move || {
        let page = s.read(&req, &body);
        (s, page, body)
    })
    .await
    {
        Ok((s, page, body)) => {
            *search = s;
            (
                page.map_err(|e| format!("unparseable page: {e}")),
                Some(body),
            )
        }
        Err(_) => (Err("parser failed".to_string()), None),
    }
}

/// Probes `entry` on `site` and decides the outcome.
pub(crate) async fn probe(site: &Site, entry: &Entry) -> ProbeResult {
    probe_with(site, entry, None).await
}

/// [`probe`], fingerprinting matched listings and skipping dismissed ones.
/// A page whose only match is a dismissed listing is clean for this entry:
/// the page was read and nothing else on it is ours.
pub(crate) async fn probe_with(site: &Site, entry: &Entry, lens: Option<Lens<'_>>) -> ProbeResult {
    let mut last: Option<ProbeResult> = None;
    let mut inconclusive: Option<ProbeResult> = None;
    // A query the site cannot be asked (a declarative site without a name
    // search) is skipped: it adds no evidence either way.
    for query in queries_for(entry)
        .into_iter()
        .filter(|q| site.settings.adapter.supports(q))
    {
        let mut search = site.settings.adapter.search(&query);
        let mut page_no = 1;
        loop {
            let mut r = read_page(site, &mut search, page_no).await;
            // Each page's result is built at most once, so it takes the
            // body rather than copying it.
            let mut body = r.body.take();
            let mut base = |outcome: Outcome| ProbeResult {
                outcome,
                http_status: r.http_status,
                page_sha256: r.sha256.clone(),
                url_masked: r.url_masked.clone(),
                body: body.take().map(String::into_bytes),
                listing_keys: Vec::new(),
                decided_at: Some(r.arrived),
                unreadable: false,
            };
            let (listings, more) = match &r.page {
                Err(reason) => {
                    inconclusive.get_or_insert(ProbeResult {
                        unreadable: r.unreadable,
                        ..base(Outcome::Inconclusive {
                            reason: reason.clone(),
                        })
                    });
                    break;
                }
                Ok(Page::NoHits) => {
                    last = Some(base(Outcome::Clean));
                    break;
                }
                Ok(Page::Hits { listings, more }) => (listings, *more),
            };
            if let Some(exposed) = exposure(entry, listings, lens) {
                // Exposure is conclusive whatever other pages say.
                return ProbeResult {
                    listing_keys: exposed.listing_keys,
                    ..base(exposed.outcome)
                };
            }
            if more && page_no >= MAX_PAGES {
                inconclusive.get_or_insert(base(Outcome::Inconclusive {
                    reason: format!("more than {MAX_PAGES} result pages"),
                }));
                break;
            }
            last = Some(base(Outcome::Clean));
            if !more {
                break;
            }
            page_no += 1;
        }
    }
    // Clean only if every query and page was conclusively clean.
    match (inconclusive, last) {
        (Some(i), _) => i,
        (None, Some(c)) => c,
        (None, None) => ProbeResult {
            outcome: Outcome::Inconclusive {
                reason: "no query was answered".into(),
            },
            http_status: None,
            page_sha256: None,
            url_masked: String::new(),
            body: None,
            listing_keys: Vec::new(),
            decided_at: None,
            unreadable: false,
        },
    }
}

/// An exposure found on one page.
struct Exposure {
    outcome: Outcome,
    listing_keys: Vec<String>,
}

/// The matcher's verdict on one page of listings, minus the dismissed ones;
/// `None` unless it is an exposure. With a lens, the keyed fingerprints of
/// the listings that match are kept.
fn exposure(entry: &Entry, listings: &[Listing], lens: Option<Lens<'_>>) -> Option<Exposure> {
    // Only an entry with a dismissal pays for filtering.
    let filtered: Option<Vec<Listing>> = match lens {
        Some(l) if !l.dismissed.is_empty() => Some(
            listings
                .iter()
                .filter(|x| !l.dismissed.contains(&l.pseudo.listing(x)))
                .cloned()
                .collect(),
        ),
        _ => None,
    };
    let shown: &[Listing] = filtered.as_deref().unwrap_or(listings);
    let outcome = matcher::assess(entry, shown);
    if !matches!(outcome, Outcome::Exposed { .. }) {
        return None;
    }
    let listing_keys = match lens {
        Some(l) => shown
            .iter()
            .filter(|x| {
                matches!(
                    matcher::assess(entry, std::slice::from_ref(*x)),
                    Outcome::Exposed { .. }
                )
            })
            .map(|x| l.pseudo.listing(x))
            .collect(),
        None => Vec::new(),
    };
    Some(Exposure {
        outcome,
        listing_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Address, E164};

    fn entry(name: &str) -> Entry {
        Entry {
            entry_ref: "R-1".into(),
            phone: E164::parse_dk("13 12 34 56").expect("number"),
            name: Some(name.into()),
            address: Some(Address {
                street: Some("Ågade".into()),
                house_number: Some("14B".into()),
                postcode: Some("8000".into()),
                city: Some("Aarhus C".into()),
                ..Address::default()
            }),
            hide_number: false,
            hide_address: true,
            cohort: None,
        }
    }

    /// An Eniro-shaped site on the simulator, honouring its robots.txt.
    async fn eniro_site(sim: &crate::sim::SimDirectory) -> Site {
        let text = format!(
            "[store]\npath = \"x.db\"\n[[sites]]\nname = \"krak.dk\"\nadapter = \"eniro\"\n\
             base_url = \"{}\"\nrate = \"100/s\"\ntimeout = \"3s\"\nmax_retries = 0\n",
            sim.base_url()
        );
        let s = crate::config::parse(&text, std::path::Path::new("/nonexistent/c.toml")).unwrap();
        Site::new(s.sites[0].clone(), None).unwrap()
    }

    /// 60 people of one name in one town (three result pages); the entry's
    /// protected address is the 55th, on page 3.
    fn crowd(sim: &crate::sim::SimDirectory) {
        for i in 0..60 {
            let street = if i == 54 {
                "Ågade 14B".to_string()
            } else {
                format!("Vestergade {}", i + 1)
            };
            sim.add(crate::sim::SimListing {
                name: "Birthe Lund".into(),
                phones: vec![format!("950001{i:02}")],
                street_line: Some(street),
                post_line: Some("8000 Aarhus C".into()),
            });
        }
    }

    fn paths(sim: &crate::sim::SimDirectory) -> Vec<String> {
        sim.requests()
            .into_iter()
            .map(|(_, p)| p)
            .filter(|p| p != "/robots.txt")
            .collect()
    }

    const NAME_Q: &str = "Birthe%20Lund%208000%20Aarhus%20C";

    #[tokio::test]
    async fn eniro_pages_after_the_first_come_by_the_data_route() {
        let sim = crate::sim::SimDirectory::start().await.unwrap();
        crowd(&sim);
        let site = eniro_site(&sim).await;
        let r = probe(&site, &entry("Birthe Lund")).await;
        assert!(
            matches!(r.outcome, Outcome::Exposed { .. }),
            "{:?}",
            r.outcome
        );
        assert_eq!(
            paths(&sim),
            [
                "/13123456/personer".to_string(),
                format!("/{NAME_Q}/personer"),
                format!("/_next/data/sim-build-1/da/search/{NAME_Q}/persons/2.json"),
                format!("/_next/data/sim-build-1/da/search/{NAME_Q}/persons/3.json"),
            ]
        );
        assert!(
            r.url_masked.ends_with("/persons/3.json"),
            "{}",
            r.url_masked
        );
    }

    #[tokio::test]
    async fn a_deploy_between_pages_is_recovered_once() {
        let sim = crate::sim::SimDirectory::start().await.unwrap();
        crowd(&sim);
        let site = eniro_site(&sim).await;
        sim.deploy_after_next_page("sim-build-2");
        let r = probe(&site, &entry("Birthe Lund")).await;
        assert!(
            matches!(r.outcome, Outcome::Exposed { .. }),
            "{:?}",
            r.outcome
        );
        assert_eq!(
            paths(&sim)[1..],
            [
                format!("/{NAME_Q}/personer"),
                format!("/_next/data/sim-build-1/da/search/{NAME_Q}/persons/2.json"),
                // 404: re-read from the HTML route, which names the new build.
                format!("/{NAME_Q}/personer/2"),
                format!("/_next/data/sim-build-2/da/search/{NAME_Q}/persons/3.json"),
            ]
        );

        // Two deploys within one search: the second is not chased.
        let sim = crate::sim::SimDirectory::start().await.unwrap();
        crowd(&sim);
        let site = eniro_site(&sim).await;
        sim.deploy_after_next_page("sim-build-2");
        sim.deploy_after_next_page("sim-build-3");
        let r = probe(&site, &entry("Birthe Lund")).await;
        match &r.outcome {
            Outcome::Inconclusive { reason } => assert!(reason.contains("buildId"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            paths(&sim).last().unwrap(),
            &format!("/_next/data/sim-build-2/da/search/{NAME_Q}/persons/3.json")
        );
        assert_eq!(paths(&sim).len(), 5);
    }

    /// A site of each adapter on the simulator, honouring its robots.txt.
    fn site_of(sim: &crate::sim::SimDirectory, adapter: &str) -> Site {
        let table = match adapter {
            "declarative" => "adapter = \"declarative\"\n[sites.declarative]\nformat = \"html\"\n\
                 search = \"/sok?vad={number_national}&sida={page}\"\n\
                 search_name = \"/sok?vad={name}&var={place}&sida={page}\"\n\
                 item = '[data-test=\"person-item\"]'\nname = '[data-test=\"search-result-title\"]'\n\
                 phone = '[data-test=\"phone-link\"]'\naddress = \"address\"\n\
                 no_results = '[data-test=\"no-hits\"]'\nnext_page = '[data-test=\"next\"]'\n"
                .to_string(),
            other => format!("adapter = \"{other}\"\n"),
        };
        let text = format!(
            "[store]\npath = \"x.db\"\n[[sites]]\nname = \"s\"\nbase_url = \"{}\"\nrate = \"100/s\"\n\
             timeout = \"3s\"\nmax_retries = 0\n{table}",
            sim.base_url()
        );
        let s = crate::config::parse(&text, std::path::Path::new("/nonexistent/c.toml")).unwrap();
        Site::new(s.sites[0].clone(), None).unwrap()
    }

    /// 60 people named like the entry in its town, none at its address:
    /// the name query reads three pages and finds nothing of ours.
    fn namesakes(sim: &crate::sim::SimDirectory) {
        for i in 0..60 {
            sim.add(crate::sim::SimListing {
                name: "Birthe Lund".into(),
                phones: vec![format!("950002{i:02}")],
                street_line: Some(format!("Vestergade {}", i + 1)),
                post_line: Some("8000 Aarhus C".into()),
            });
        }
    }

    /// The drift race made deterministic: the layout changes between the
    /// number query and the name query of one probe, or between two pages
    /// of the name query. Whatever was read before the change, the probe
    /// is inconclusive, on every adapter: clean needs every page read.
    #[tokio::test]
    async fn a_layout_change_within_a_probe_makes_it_inconclusive() {
        use crate::sim::Fault;
        for adapter in ["dk118", "eniro", "declarative"] {
            // Without a change: four pages (number, then the name on three
            // pages), all read, nothing of ours: clean.
            let sim = crate::sim::SimDirectory::start().await.unwrap();
            namesakes(&sim);
            let site = site_of(&sim, adapter);
            let before = time::OffsetDateTime::now_utc();
            let r = probe(&site, &entry("Birthe Lund")).await;
            assert_eq!(r.outcome, Outcome::Clean, "{adapter}");
            assert_eq!(paths(&sim).len(), 4, "{adapter}: {:?}", paths(&sim));
            // Stamped with the last page's arrival, which was within the probe.
            let at = r.decided_at.expect("a page was read");
            assert!(at >= before && at <= time::OffsetDateTime::now_utc());
            // The change lands after the number query (1 answer), after
            // the first name page (2), after the second (3).
            for after in 1..=3 {
                let sim = crate::sim::SimDirectory::start().await.unwrap();
                namesakes(&sim);
                let site = site_of(&sim, adapter);
                sim.set_fault(Fault::DriftAfter(after));
                let r = probe(&site, &entry("Birthe Lund")).await;
                assert!(
                    matches!(r.outcome, Outcome::Inconclusive { .. }),
                    "{adapter}, drift after {after} answers: {:?}",
                    r.outcome
                );
                assert!(r.unreadable, "{adapter}: a drifted page is unreadable");
                assert_eq!(
                    paths(&sim).len(),
                    usize::try_from(after).unwrap() + 1,
                    "{adapter}: nothing is asked after the unreadable page of a query"
                );
            }
        }
    }

    #[test]
    fn name_queries_use_first_given_and_last_surname() {
        for (name, want) in [
            ("Birthe Østergaard Lund", "Birthe Lund"),
            ("Birthe Lund", "Birthe Lund"),
            ("  Birthe   Lund ", "Birthe Lund"),
            ("Lund, Birthe", "Birthe Lund"),
            ("Lund, Birthe Østergaard", "Birthe Lund"),
            ("Hansen-Nørgaard, Anne-Marie", "Anne-Marie Hansen-Nørgaard"),
            ("Cher", "Cher"),
        ] {
            let q = queries_for(&entry(name));
            let Some(Query::NameAt { name: got, place }) = q.get(1) else {
                panic!("{name:?}: no name query");
            };
            assert_eq!(got, want, "{name:?}");
            assert_eq!(place, "8000 Aarhus C");
        }
        // Nothing usable to search for: the number query only.
        assert_eq!(queries_for(&entry(" , ")).len(), 1);
    }
}
