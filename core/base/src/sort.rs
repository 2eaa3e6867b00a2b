//! One stable sort for the whole core (ADR 0037).
//!
//! `slice::sort_by` / `sort_by_key` instantiate the standard library's stable sort (driftsort: merge,
//! small-sort, quicksort and their helpers, several kilobytes of code) once per element type *and* per
//! comparison closure, and once more in every crate that sorts the same type. Forty call sites in the core
//! made that about a quarter of a megabyte of the shipped library (docs/benchmarks.md, "FFI library size").
//!
//! [`sort_by`] and [`sort_by_key`] give the same order as the standard ones (stable: equal elements keep
//! their order; the same comparison), but the sorting itself is [`permutation`], one non-generic function
//! that sorts indices through a `dyn` comparison: one copy of the sort code in the library. The generic part
//! left per call site is a few lines that apply the permutation by swaps. The price is an indirect call per
//! comparison, nothing on lists of the sizes a phone shows (cases, drafts, licences, reminders, search hits).

use std::cmp::Ordering;

/// The order that sorts `n` elements: `out[k]` is the index of the element that goes to place `k`.
/// Stable (equal elements keep their order), like `slice::sort_by`.
fn permutation(n: usize, cmp: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| cmp(a, b));
    order
}

/// Sorts `v` stably with `cmp`: the same result as `v.sort_by(cmp)`.
pub fn sort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let mut order = permutation(v.len(), &mut |a, b| cmp(&v[a], &v[b]));
    // Place k takes the element now at order[k]: follow each cycle of the permutation with swaps.
    for start in 0..order.len() {
        let mut cur = start;
        while order[cur] != start {
            let next = order[cur];
            v.swap(cur, next);
            order[cur] = cur;
            cur = next;
        }
        order[cur] = cur;
    }
}

/// Sorts `v` stably by a key: the same result as `v.sort_by_key(key)`.
pub fn sort_by_key<T, K: Ord>(v: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn equal_keys_keep_their_order_and_the_order_is_the_standard_one() {
        let mut v = vec![(3, 'a'), (1, 'b'), (3, 'c'), (2, 'd'), (1, 'e'), (3, 'f')];
        let mut want = v.clone();
        want.sort_by_key(|x| x.0);
        sort_by_key(&mut v, |x| x.0);
        assert_eq!(v, want);
        assert_eq!(v, vec![(1, 'b'), (1, 'e'), (2, 'd'), (3, 'a'), (3, 'c'), (3, 'f')]);
        let mut v: Vec<String> = ["b", "a", "c"].iter().map(|s| s.to_string()).collect();
        sort_by(&mut v, |a, b| b.cmp(a));
        assert_eq!(v, ["c", "b", "a"]);
        let mut empty: Vec<u8> = vec![];
        sort_by_key(&mut empty, |x| *x);
        assert!(empty.is_empty());
    }

    proptest! {
        /// Any list, any keys with many ties: the same result as the standard stable sort.
        #[test]
        fn the_same_as_the_standard_stable_sort(v in proptest::collection::vec((0u8..6, any::<u16>()), 0..300)) {
            let mut ours = v.clone();
            let mut std = v;
            sort_by_key(&mut ours, |a| std::cmp::Reverse(a.0));
            std.sort_by_key(|a| std::cmp::Reverse(a.0));
            prop_assert_eq!(ours, std);
        }
    }
}
