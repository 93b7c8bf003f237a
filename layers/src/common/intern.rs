//! Strings every request of a route repeats (the route template, the span name), stored once
//! per process so a request reuses them instead of allocating its own.
//!
//! Both tables are bounded ([`CAP`] entries of at most [`MAX_LEN`] bytes): route templates are
//! few in any real application, but a route closure could hand out anything. Past the bound the
//! caller allocates as before; nothing changes but the cost.

use std::sync::{Arc, OnceLock, RwLock};

use hashbrown::{Equivalent, HashMap, HashSet};

/// Entries per table.
pub(crate) const CAP: usize = 4096;
/// Longest string kept (longer ones are allocated per request).
pub(crate) const MAX_LEN: usize = 256;

static ROUTES: OnceLock<RwLock<HashSet<Arc<str>>>> = OnceLock::new();
/// `(verb, route)` → the joined name.
type Names = HashMap<(Box<str>, Box<str>), &'static str>;

static NAMES: OnceLock<RwLock<Names>> = OnceLock::new();

/// `route` as a shared string: one allocation per distinct template in the process.
pub fn shared_route(route: &str) -> Arc<str> {
    let table = ROUTES.get_or_init(Default::default);
    if let Some(r) = table.read().ok().and_then(|t| t.get(route).cloned()) {
        return r;
    }
    let shared: Arc<str> = Arc::from(route);
    if route.len() <= MAX_LEN {
        if let Ok(mut t) = table.write() {
            if t.len() < CAP {
                return t.get_or_insert(shared).clone();
            }
        }
    }
    shared
}

/// A `(verb, route)` pair looked up without joining it first.
#[derive(Hash)]
struct NameKey<'a>(&'a str, &'a str);

impl Equivalent<(Box<str>, Box<str>)> for NameKey<'_> {
    fn equivalent(&self, key: &(Box<str>, Box<str>)) -> bool {
        *key.0 == *self.0 && *key.1 == *self.1
    }
}

/// `"{verb} {route}"` as a `&'static str` (a span name needs one to avoid an allocation per
/// span), or `None` past the table's bound. Each distinct name is allocated once and kept for
/// the life of the process — bounded by [`CAP`] × [`MAX_LEN`].
pub(crate) fn span_name(verb: &str, route: &str) -> Option<&'static str> {
    let table = NAMES.get_or_init(Default::default);
    let key = NameKey(verb, route);
    if let Some(name) = table.read().ok().and_then(|t| t.get(&key).copied()) {
        return Some(name);
    }
    if verb.len() + 1 + route.len() > MAX_LEN {
        return None;
    }
    let mut t = table.write().ok()?;
    if let Some(name) = t.get(&key) {
        return Some(name);
    }
    if t.len() >= CAP {
        return None;
    }
    let name: &'static str = Box::leak(format!("{verb} {route}").into_boxed_str());
    t.insert((verb.into(), route.into()), name);
    Some(name)
}

/// `"{verb} {route}"`: the interned [`span_name`], or joined for this one span past the
/// table's bound.
pub(crate) fn joined_name(verb: &str, route: &str) -> std::borrow::Cow<'static, str> {
    match span_name(verb, route) {
        Some(name) => std::borrow::Cow::Borrowed(name),
        None => {
            let mut name = String::with_capacity(verb.len() + 1 + route.len());
            name.push_str(verb);
            name.push(' ');
            name.push_str(route);
            std::borrow::Cow::Owned(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_is_shared_and_a_long_one_is_not_kept() {
        let a = shared_route("/intern/{id}");
        let b = shared_route(&String::from("/intern/{id}"));
        assert!(Arc::ptr_eq(&a, &b));
        let long = "/x".repeat(MAX_LEN);
        let c = shared_route(&long);
        let d = shared_route(&long);
        assert_eq!(c, d);
        assert!(!Arc::ptr_eq(&c, &d), "not kept");
    }

    #[test]
    fn a_name_past_the_bound_is_joined_for_its_span_alone() {
        let long = "/z".repeat(MAX_LEN);
        let name = joined_name("send", &long);
        assert!(matches!(name, std::borrow::Cow::Owned(_)));
        assert_eq!(name, format!("send {long}"));
        assert!(matches!(
            joined_name("send", "/joined"),
            std::borrow::Cow::Borrowed("send /joined")
        ));
    }

    #[test]
    fn a_span_name_is_joined_once() {
        let a = span_name("GET", "/names/{id}").unwrap();
        let b = span_name("GET", &String::from("/names/{id}")).unwrap();
        assert_eq!(a, "GET /names/{id}");
        assert!(std::ptr::eq(a, b));
        assert_ne!(span_name("POST", "/names/{id}").unwrap(), a);
        assert_eq!(span_name("GET", &"/y".repeat(MAX_LEN)), None);
    }
}
