//! Query strings and `limit`/`position` paging of collections.
//!
//! A position is the sort key of the first item of the next page: stable while items are
//! added or removed between pages (a page starts at the first item sorting at or after it).

use super::error::ApiError;
use percent_encoding::percent_decode_str;
use std::ops::Bound;

/// Items per page when the caller gives no `limit` (as AWS).
pub const DEFAULT_LIMIT: usize = 25;
/// The largest `limit` accepted (as AWS).
pub const MAX_LIMIT: usize = 500;

/// A parsed query string: decoded `(name, value)` pairs in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a raw query string (no `?`). `+` is taken literally, as AWS signing does.
    pub fn parse(raw: &str) -> Query {
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(p), String::new()),
                })
                .collect(),
        )
    }

    /// Every `(name, value)` pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (lists are sent as repeated parameters).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the list parameter `name` holds `value` (also as one of comma-separated values).
    pub fn has_value(&self, name: &str, value: &str) -> bool {
        self.all(name)
            .any(|v| v.split(',').any(|x| x.trim().eq_ignore_ascii_case(value)))
    }
}

/// Which page of a collection was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Most items to return.
    pub limit: usize,
    /// Sort key to start at.
    pub position: Option<String>,
}

impl PageRequest {
    /// Reads `limit` and `position` from the query.
    pub fn from_query(q: &Query) -> Result<PageRequest, ApiError> {
        let limit = match q.get("limit") {
            None | Some("") => DEFAULT_LIMIT,
            Some(s) => {
                let n: i64 = s
                    .parse()
                    .map_err(|_| ApiError::bad_request(format!("Invalid limit specified: {s}")))?;
                if n < 1 || n > MAX_LIMIT as i64 {
                    return Err(ApiError::bad_request(format!(
                        "1 validation error detected: Value '{n}' at 'limit' failed to satisfy \
                         constraint: Member must have value between 1 and {MAX_LIMIT}"
                    )));
                }
                n as usize
            }
        };
        let position = q
            .get("position")
            .filter(|p| !p.is_empty())
            .map(String::from);
        Ok(PageRequest { limit, position })
    }

    /// The range of a sorted map (or set) this page starts in: `map.range::<str, _>(p.start())`.
    pub fn start(&self) -> (Bound<&str>, Bound<&str>) {
        let from = self
            .position
            .as_deref()
            .map_or(Bound::Unbounded, Bound::Included);
        (from, Bound::Unbounded)
    }

    /// Takes one page from `items`, sorted by their key and starting at the page's position
    /// (a sorted map's [`PageRequest::start`] range, filtered and mapped lazily): only the
    /// page and the next item are read, so a page costs its length, not the collection's.
    /// Returns the page and the position of the next one (none after the last page).
    pub fn take<K: AsRef<str>, T>(
        &self,
        items: impl Iterator<Item = (K, T)>,
    ) -> (Vec<T>, Option<String>) {
        let mut items = items.peekable();
        let mut page = Vec::new();
        while page.len() < self.limit {
            match items.next() {
                Some((_, item)) => page.push(item),
                None => break,
            }
        }
        let next = items.peek().map(|(k, _)| k.as_ref().to_string());
        (page, next)
    }

    /// Cuts one page out of `items`, which must be sorted by their key. Returns the page and
    /// the position of the next one (none after the last page).
    pub fn apply<T>(&self, items: Vec<(String, T)>) -> (Vec<T>, Option<String>) {
        let mut iter = items
            .into_iter()
            .skip_while(|(k, _)| self.position.as_deref().is_some_and(|p| k.as_str() < p));
        let page: Vec<T> = iter.by_ref().take(self.limit).map(|(_, v)| v).collect();
        let next = iter.next().map(|(k, _)| k);
        (page, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decodes_and_repeats() {
        let q = Query::parse("embed=methods&position=a%2Fb&embed=x&flag&limit=3");
        assert_eq!(q.get("position"), Some("a/b"));
        assert_eq!(q.all("embed").collect::<Vec<_>>(), ["methods", "x"]);
        assert!(q.has_value("embed", "methods"));
        assert!(Query::parse("embed=x,methods").has_value("embed", "methods"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("nope"), None);
    }

    #[test]
    fn limits_are_checked() {
        let p = PageRequest::from_query(&Query::parse("")).unwrap();
        assert_eq!((p.limit, p.position), (DEFAULT_LIMIT, None));
        assert_eq!(
            PageRequest::from_query(&Query::parse("limit=500"))
                .unwrap()
                .limit,
            500
        );
        for bad in ["limit=0", "limit=501", "limit=x", "limit=-1"] {
            assert_eq!(
                PageRequest::from_query(&Query::parse(bad))
                    .unwrap_err()
                    .status,
                400
            );
        }
    }

    #[test]
    fn a_page_taken_from_a_map_reads_only_the_page() {
        let map: std::collections::BTreeMap<String, u32> =
            (10..1_000).map(|i| (format!("k{i}"), i)).collect();
        let req = PageRequest {
            limit: 3,
            position: Some("k500".into()),
        };
        let read = std::cell::Cell::new(0);
        let (page, next) = req.take(map.range::<str, _>(req.start()).map(|(k, v)| {
            read.set(read.get() + 1);
            (k, *v)
        }));
        assert_eq!((page, next.as_deref()), (vec![500, 501, 502], Some("k503")));
        assert_eq!(read.get(), 4, "the page and the next item");
        // The same page as cutting it out of the whole collection.
        let all = map.iter().map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(req.apply(all), (vec![500, 501, 502], Some("k503".into())));
        let last = PageRequest {
            limit: 25,
            position: Some("k990".into()),
        };
        let (page, next) = last.take(map.range::<str, _>(last.start()));
        assert_eq!((page.len(), next), (10, None));
    }

    #[test]
    fn pages_follow_positions() {
        let items = || -> Vec<(String, u32)> { (1..=5).map(|i| (format!("k{i}"), i)).collect() };
        let mut req = PageRequest {
            limit: 2,
            position: None,
        };
        let mut seen = Vec::new();
        loop {
            let (page, next) = req.apply(items());
            seen.extend(page);
            match next {
                Some(n) => req.position = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, [1, 2, 3, 4, 5]);
        // A position whose item vanished starts at the next one.
        req.position = Some("k25".into());
        assert_eq!(req.apply(items()).0, [3, 4]);
    }
}
