//! Matching a request path and verb to a method of a compiled stage.
//!
//! Priority follows API Gateway: a literal segment beats `{param}`, which beats `{proxy+}`;
//! when a more specific branch has no method for the verb (nor `ANY`), the next one is tried.
//! Matching allocates nothing: captures are ranges into the request path.

use super::routing::{CompiledMethod, StageRoutes, Verb};

/// Most path parameters captured for one request.
pub const MAX_CAPTURES: usize = 16;

/// Path parameters captured by a match: names borrowed from the table, values as ranges of the
/// matched path.
#[derive(Debug)]
pub struct Captures<'a> {
    items: [(&'a str, usize, usize); MAX_CAPTURES],
    len: usize,
}

impl Default for Captures<'_> {
    fn default() -> Self {
        Captures {
            items: [("", 0, 0); MAX_CAPTURES],
            len: 0,
        }
    }
}

impl<'a> Captures<'a> {
    /// The captured (name, start, end) triples, in path order.
    pub fn iter(&self) -> impl Iterator<Item = &(&'a str, usize, usize)> {
        self.items[..self.len].iter()
    }

    /// The value of parameter `name` within `path`.
    pub fn get<'p>(&self, path: &'p str, name: &str) -> Option<&'p str> {
        self.iter()
            .find(|(n, _, _)| *n == name)
            .and_then(|&(_, s, e)| path.get(s..e))
    }

    fn push(&mut self, name: &'a str, start: usize, end: usize) -> bool {
        if self.len == MAX_CAPTURES {
            return false;
        }
        self.items[self.len] = (name, start, end);
        self.len += 1;
        true
    }

    /// Adds a capture (tests of code that consumes captures).
    #[cfg(test)]
    pub fn push_for_test(&mut self, name: &'a str, start: usize, end: usize) -> bool {
        self.push(name, start, end)
    }

    /// Forgets every capture.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// Finds the method serving `verb` at `path` (the stage-relative path, starting with `/`).
pub fn find<'a>(
    routes: &'a StageRoutes,
    path: &str,
    verb: Verb,
    caps: &mut Captures<'a>,
) -> Option<&'a CompiledMethod> {
    caps.clear();
    let mut p = path.strip_prefix('/')?;
    if p.ends_with('/') {
        p = &p[..p.len() - 1];
    }
    let idx = walk(routes, 0, p, 1, verb, caps)?;
    routes.methods.get(idx as usize)
}

fn method_at(routes: &StageRoutes, node: u32, verb: Verb) -> Option<u32> {
    let n = routes.nodes.get(node as usize)?;
    n.methods[verb as usize].or(n.methods[Verb::Any as usize])
}

/// `rest` is what is left of the path after the segments consumed so far; `at` is its offset
/// in the full path (for capture ranges).
fn walk<'a>(
    routes: &'a StageRoutes,
    node: u32,
    rest: &str,
    at: usize,
    verb: Verb,
    caps: &mut Captures<'a>,
) -> Option<u32> {
    if rest.is_empty() {
        return method_at(routes, node, verb);
    }
    let n = routes.nodes.get(node as usize)?;
    let (seg, tail, tail_at) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..], at + i + 1),
        None => (rest, "", at + rest.len()),
    };
    if seg.is_empty() {
        return None;
    }
    if let Ok(i) = n.statics.binary_search_by(|(s, _)| (**s).cmp(seg)) {
        if let Some(found) = walk(routes, n.statics[i].1, tail, tail_at, verb, caps) {
            return Some(found);
        }
    }
    if let Some((name, child)) = &n.param {
        let mark = caps.len;
        if caps.push(name, at, at + seg.len()) {
            if let Some(found) = walk(routes, *child, tail, tail_at, verb, caps) {
                return Some(found);
            }
        }
        caps.len = mark;
    }
    if let Some((name, child)) = &n.greedy {
        if let Some(found) = method_at(routes, *child, verb) {
            let mark = caps.len;
            if caps.push(name, at, at + rest.len()) {
                return Some(found);
            }
            caps.len = mark;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::routing::compile_stage;
    use std::collections::BTreeMap;
    use tollgate_proto::model::{Deployment, Integration, Method, Resource, Stage};

    fn res(id: &str, parent: Option<&str>, part: &str, verbs: &[&str]) -> (String, Resource) {
        let methods = verbs
            .iter()
            .map(|v| {
                (
                    v.to_string(),
                    Box::new(Method {
                        http_method: v.to_string(),
                        integration: Some(Integration::default()),
                        ..Default::default()
                    }),
                )
            })
            .collect();
        (
            id.into(),
            Resource {
                id: id.into(),
                parent_id: parent.map(Into::into),
                path_part: part.into(),
                methods,
            },
        )
    }

    fn routes() -> StageRoutes {
        let resources: BTreeMap<String, Resource> = [
            res("root", None, "", &["GET"]),
            res("pets", Some("root"), "pets", &["GET", "POST"]),
            res("pid", Some("pets"), "{petId}", &["GET"]),
            res("mine", Some("pets"), "mine", &["DELETE"]),
            res("toys", Some("pid"), "toys", &["ANY"]),
            res("greedy", Some("root"), "{proxy+}", &["ANY"]),
        ]
        .into_iter()
        .collect();
        let dep = Deployment {
            id: "d".into(),
            description: None,
            created_date: 0,
            root_resource_id: "root".into(),
            resources: resources.into(),
            ..Default::default()
        };
        compile_stage("api", &Stage::default(), &dep, &Default::default())
    }

    fn hit(r: &StageRoutes, verb: Verb, path: &str) -> Option<(String, Vec<(String, String)>)> {
        let mut caps = Captures::default();
        let m = find(r, path, verb, &mut caps)?;
        let params = caps
            .iter()
            .map(|&(n, s, e)| (n.to_string(), path[s..e].to_string()))
            .collect();
        Some((format!("{} {}", m.http_method, m.resource_path), params))
    }

    #[test]
    fn priorities_and_captures() {
        let r = routes();
        assert_eq!(hit(&r, Verb::Get, "/").unwrap().0, "GET /");
        assert_eq!(hit(&r, Verb::Get, "/pets").unwrap().0, "GET /pets");
        assert_eq!(hit(&r, Verb::Get, "/pets/").unwrap().0, "GET /pets");
        let (m, p) = hit(&r, Verb::Get, "/pets/42").unwrap();
        assert_eq!(m, "GET /pets/{petId}");
        assert_eq!(p, vec![("petId".into(), "42".into())]);
        // Static `mine` has only DELETE: GET falls back to `{petId}`.
        let (m, p) = hit(&r, Verb::Get, "/pets/mine").unwrap();
        assert_eq!((m.as_str(), p[0].1.as_str()), ("GET /pets/{petId}", "mine"));
        assert_eq!(
            hit(&r, Verb::Delete, "/pets/mine").unwrap().0,
            "DELETE /pets/mine"
        );
        // ANY on a nested resource.
        let (m, p) = hit(&r, Verb::Patch, "/pets/7/toys").unwrap();
        assert_eq!(
            (m.as_str(), p[0].1.as_str()),
            ("ANY /pets/{petId}/toys", "7")
        );
        // POST on /pets/7 has no method: the greedy root catches it.
        let (m, p) = hit(&r, Verb::Post, "/pets/7").unwrap();
        assert_eq!(m, "ANY /{proxy+}");
        assert_eq!(p, vec![("proxy".into(), "pets/7".into())]);
        let (_, p) = hit(&r, Verb::Get, "/a/b/c").unwrap();
        assert_eq!(p, vec![("proxy".into(), "a/b/c".into())]);
        // Root with a verb it lacks: greedy needs at least one segment, so no match.
        assert!(hit(&r, Verb::Post, "/").is_none());
        assert!(hit(&r, Verb::Get, "").is_none());
        assert!(hit(&r, Verb::Get, "/pets//x").is_some()); // greedy takes it
    }

    #[test]
    fn no_greedy_means_no_match() {
        let resources: BTreeMap<String, Resource> = [
            res("root", None, "", &[]),
            res("pets", Some("root"), "pets", &["GET"]),
        ]
        .into_iter()
        .collect();
        let dep = Deployment {
            id: "d".into(),
            description: None,
            created_date: 0,
            root_resource_id: "root".into(),
            resources: resources.into(),
            ..Default::default()
        };
        let r = compile_stage("api", &Stage::default(), &dep, &Default::default());
        assert!(hit(&r, Verb::Get, "/").is_none());
        assert!(hit(&r, Verb::Post, "/pets").is_none());
        assert!(hit(&r, Verb::Get, "/pets/1").is_none());
        assert!(hit(&r, Verb::Get, "/cats").is_none());
    }
}
