//! Strings every request of a route repeats (the route template, the span name), stored once
//! per process so a request reuses them instead of allocating its own.
//!
//! Both tables are bounded ([`CAP`] entries of at most [`MAX_LEN`] bytes): route templates are
//! few in any real application, but a route closure could hand out anything. Past the bound the
//! caller allocates as before; nothing changes but the cost.
//!
//! In front of each table, every thread keeps the few entries it used last ([`Near`]): a
//! request of a route the thread just served finds them by one comparison, without the table's
//! lock or hash (on the Axum bench request, 140 instructions fewer).

use std::cell::RefCell;
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
/// Names kept as they are (RPC methods).
static STATICS: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();

/// Entries each thread keeps in front of a table.
const NEAR: usize = 4;

/// A thread's last few entries of a table, newest replacing the oldest.
pub(crate) struct Near<T> {
    slots: [Option<T>; NEAR],
    next: usize,
}

impl<T: Clone> Near<T> {
    /// No entries.
    pub(crate) const fn new() -> Self {
        Near {
            slots: [const { None }; NEAR],
            next: 0,
        }
    }

    fn find(&self, hit: impl Fn(&T) -> bool) -> Option<T> {
        self.get(hit).cloned()
    }

    /// The entry `hit` accepts, by reference (for entries not worth cloning out).
    pub(crate) fn get(&self, hit: impl Fn(&T) -> bool) -> Option<&T> {
        self.slots.iter().flatten().find(|t| hit(t))
    }

    /// Keeps `entry`, replacing the oldest.
    pub(crate) fn keep(&mut self, entry: T) {
        self.slots[self.next] = Some(entry);
        self.next = (self.next + 1) % NEAR;
    }
}

thread_local! {
    static NEAR_ROUTES: RefCell<Near<Arc<str>>> = const { RefCell::new(Near::new()) };
    static NEAR_NAMES: RefCell<Near<&'static str>> = const { RefCell::new(Near::new()) };
    static NEAR_STATICS: RefCell<Near<&'static str>> = const { RefCell::new(Near::new()) };
}

/// The thread's entry of `near` that `hit` accepts, else `make`'s value, kept there when
/// `keep` says so. Without the thread's cache (a thread being torn down, a re-entrant call)
/// it is just `make`.
pub(crate) fn near<T: Clone + 'static>(
    near: &'static std::thread::LocalKey<RefCell<Near<T>>>,
    hit: impl Fn(&T) -> bool,
    make: impl FnOnce() -> T,
    keep: impl FnOnce(&T) -> bool,
) -> T {
    if let Ok(Some(found)) = near.try_with(|n| n.try_borrow().ok()?.find(&hit)) {
        return found;
    }
    let made = make();
    if keep(&made) {
        let _ = near.try_with(|n| n.try_borrow_mut().map(|mut n| n.keep(made.clone())));
    }
    made
}

/// `route` as a shared string: one allocation per distinct template in the process.
pub fn shared_route(route: &str) -> Arc<str> {
    near(
        &NEAR_ROUTES,
        |kept| **kept == *route,
        || table_route(route),
        |_| route.len() <= MAX_LEN,
    )
}

/// [`shared_route`] from the process's table.
fn table_route(route: &str) -> Arc<str> {
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
    near_name(
        &NEAR_NAMES,
        |kept| is_joined(kept, verb, route),
        || table_name(verb, route),
    )
}

/// [`near`] for a table of process-wide names, where `make` finds none past the table's bound
/// (and nothing is kept then).
fn near_name(
    key: &'static std::thread::LocalKey<RefCell<Near<&'static str>>>,
    hit: impl Fn(&&'static str) -> bool,
    make: impl FnOnce() -> Option<&'static str>,
) -> Option<&'static str> {
    // A kept name is never empty, so "" stands for none.
    let name = near(key, hit, || make().unwrap_or(""), |name| !name.is_empty());
    (!name.is_empty()).then_some(name)
}

/// Whether `name` is `"{verb} {route}"` (compared in place, nothing joined).
fn is_joined(name: &str, verb: &str, route: &str) -> bool {
    name.len() == verb.len() + 1 + route.len()
        && name.as_bytes()[verb.len()] == b' '
        && name.starts_with(verb)
        && name.ends_with(route)
}

/// [`span_name`] from the process's table.
fn table_name(verb: &str, route: &str) -> Option<&'static str> {
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

/// `name` as a `&'static str` kept for the life of the process (an RPC method that is not
/// client-controlled: its span name and `rpc.method` then cost no allocation), or `None` past
/// the table's bound ([`CAP`] × [`MAX_LEN`]).
pub(crate) fn static_name(name: &str) -> Option<&'static str> {
    near_name(&NEAR_STATICS, |kept| *kept == name, || table_static(name))
}

/// [`static_name`] from the process's table.
fn table_static(name: &str) -> Option<&'static str> {
    let table = STATICS.get_or_init(Default::default);
    if let Some(kept) = table.read().ok().and_then(|t| t.get(name).copied()) {
        return Some(kept);
    }
    if name.is_empty() || name.len() > MAX_LEN {
        return None;
    }
    let mut t = table.write().ok()?;
    if let Some(kept) = t.get(name) {
        return Some(kept);
    }
    if t.len() >= CAP {
        return None;
    }
    let kept: &'static str = Box::leak(name.into());
    t.insert(kept);
    Some(kept)
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
    fn the_thread_finds_its_recent_entries_and_nothing_else() {
        let a = shared_route("/near/{a}");
        assert!(Arc::ptr_eq(&a, &shared_route("/near/{a}")));
        for i in 0..2 * NEAR {
            assert_eq!(&*shared_route(&format!("/near/{i}")), format!("/near/{i}"));
        }
        // Pushed out of the thread's entries, still the process's one string.
        assert!(Arc::ptr_eq(&a, &shared_route("/near/{a}")));
        assert_eq!(
            &*shared_route("/near/{a}x"),
            "/near/{a}x",
            "no prefix match"
        );
        assert_eq!(&*shared_route("/near/{"), "/near/{");

        let n = span_name("GET", "/near/{a}").unwrap();
        assert_eq!(n, "GET /near/{a}");
        assert!(std::ptr::eq(n, span_name("GET", "/near/{a}").unwrap()));
        assert_eq!(span_name("GET ", "near/{a}").unwrap(), "GET  near/{a}");
        assert_eq!(span_name("GE", "T /near/{a}").unwrap(), "GE T /near/{a}");
        assert_eq!(span_name("POST", "/near/{a}").unwrap(), "POST /near/{a}");
        assert_eq!(span_name("GET", "/near/{b}").unwrap(), "GET /near/{b}");
        assert_eq!(
            span_name("GET", &"/y".repeat(MAX_LEN)),
            None,
            "past the bound"
        );
    }

    #[test]
    fn a_static_name_is_kept_once_within_the_bound() {
        let a = static_name("pkg.Svc/Static").unwrap();
        assert_eq!(a, "pkg.Svc/Static");
        assert!(std::ptr::eq(
            a,
            static_name(&String::from("pkg.Svc/Static")).unwrap()
        ));
        assert_eq!(static_name(""), None);
        assert_eq!(static_name(&"s".repeat(MAX_LEN + 1)), None);
        assert_eq!(static_name("pkg.Svc/Static2").unwrap(), "pkg.Svc/Static2");
    }

    #[test]
    fn joined_is_compared_in_place() {
        assert!(is_joined("GET /a", "GET", "/a"));
        assert!(!is_joined("GET /a", "GE", "T /a"));
        assert!(!is_joined("GET /a", "GET", "/b"));
        assert!(!is_joined("GET /a", "GET", "/a/"));
        assert!(!is_joined("GET", "GET", ""));
        assert!(is_joined("GET ", "GET", ""));
        assert!(!is_joined("POST /a", "GET", "/a"));
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
