//! Go's `sort.Sort` (pattern-defeating quicksort, Go ≥ 1.19), step for step, so that
//! elements that compare equal, and NaNs under Prometheus' comparisons, end up in the order
//! Prometheus 2.42 gives them (`sort`, `sort_desc`). Rust's sorts would give a different,
//! equally valid order.

/// Sorts `v` by `less` exactly as Go's `sort.Sort` does with the same `Less`.
pub(crate) fn go_sort<T>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let limit = bit_len(n);
    pdq(v, less, 0, n, limit);
}

/// Number of bits needed to represent `n` (Go's `bits.Len`).
fn bit_len(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()) as usize
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

fn lt<T>(v: &[T], less: &impl Fn(&T, &T) -> bool, i: usize, j: usize) -> bool {
    less(&v[i], &v[j])
}

fn insertion<T>(v: &mut [T], less: &impl Fn(&T, &T) -> bool, a: usize, b: usize) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && lt(v, less, j, j - 1) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn sift_down<T>(v: &mut [T], less: &impl Fn(&T, &T) -> bool, lo: usize, hi: usize, first: usize) {
    let mut root = lo;
    loop {
        let mut child = 2 * root + 1;
        if child >= hi {
            return;
        }
        if child + 1 < hi && lt(v, less, first + child, first + child + 1) {
            child += 1;
        }
        if !lt(v, less, first + root, first + child) {
            return;
        }
        v.swap(first + root, first + child);
        root = child;
    }
}

fn heap_sort<T>(v: &mut [T], less: &impl Fn(&T, &T) -> bool, a: usize, b: usize) {
    let (first, hi) = (a, b - a);
    for i in (0..=(hi - 1) / 2).rev() {
        sift_down(v, less, i, hi, first);
    }
    for i in (0..hi).rev() {
        v.swap(first, first + i);
        sift_down(v, less, 0, i, first);
    }
}

fn pdq<T>(
    v: &mut [T],
    less: &impl Fn(&T, &T) -> bool,
    mut a: usize,
    mut b: usize,
    mut limit: usize,
) {
    const MAX_INSERTION: usize = 12;
    let mut was_balanced = true;
    let mut was_partitioned = true;
    loop {
        let length = b - a;
        if length <= MAX_INSERTION {
            insertion(v, less, a, b);
            return;
        }
        if limit == 0 {
            heap_sort(v, less, a, b);
            return;
        }
        if !was_balanced {
            break_patterns(v, a, b);
            limit -= 1;
        }
        let (mut pivot, mut hint) = choose_pivot(v, less, a, b);
        if hint == Hint::Decreasing {
            v[a..b].reverse();
            pivot = (b - 1) - (pivot - a);
            hint = Hint::Increasing;
        }
        if was_balanced
            && was_partitioned
            && hint == Hint::Increasing
            && partial_insertion(v, less, a, b)
        {
            return;
        }
        if a > 0 && !lt(v, less, a - 1, pivot) {
            a = partition_equal(v, less, a, b, pivot);
            continue;
        }
        let (mid, already) = partition(v, less, a, b, pivot);
        was_partitioned = already;
        let (left, right) = (mid - a, b - mid);
        let threshold = length / 8;
        if left < right {
            was_balanced = left >= threshold;
            pdq(v, less, a, mid, limit);
            a = mid + 1;
        } else {
            was_balanced = right >= threshold;
            pdq(v, less, mid + 1, b, limit);
            b = mid;
        }
    }
}

fn partition<T>(
    v: &mut [T],
    less: &impl Fn(&T, &T) -> bool,
    a: usize,
    b: usize,
    pivot: usize,
) -> (usize, bool) {
    v.swap(a, pivot);
    // i and j are signed in Go: j can step below a + 1.
    let (mut i, mut j) = (a as isize + 1, b as isize - 1);
    let l = |v: &[T], x: isize| lt(v, less, x as usize, a);
    while i <= j && l(v, i) {
        i += 1;
    }
    while i <= j && !l(v, j) {
        j -= 1;
    }
    if i > j {
        v.swap(j as usize, a);
        return (j as usize, true);
    }
    v.swap(i as usize, j as usize);
    i += 1;
    j -= 1;
    loop {
        while i <= j && l(v, i) {
            i += 1;
        }
        while i <= j && !l(v, j) {
            j -= 1;
        }
        if i > j {
            break;
        }
        v.swap(i as usize, j as usize);
        i += 1;
        j -= 1;
    }
    v.swap(j as usize, a);
    (j as usize, false)
}

fn partition_equal<T>(
    v: &mut [T],
    less: &impl Fn(&T, &T) -> bool,
    a: usize,
    b: usize,
    pivot: usize,
) -> usize {
    v.swap(a, pivot);
    let (mut i, mut j) = (a as isize + 1, b as isize - 1);
    loop {
        while i <= j && !lt(v, less, a, i as usize) {
            i += 1;
        }
        while i <= j && lt(v, less, a, j as usize) {
            j -= 1;
        }
        if i > j {
            break;
        }
        v.swap(i as usize, j as usize);
        i += 1;
        j -= 1;
    }
    i as usize
}

fn partial_insertion<T>(v: &mut [T], less: &impl Fn(&T, &T) -> bool, a: usize, b: usize) -> bool {
    const MAX_STEPS: usize = 5;
    const SHORTEST_SHIFTING: usize = 50;
    let mut i = a + 1;
    for _ in 0..MAX_STEPS {
        while i < b && !lt(v, less, i, i - 1) {
            i += 1;
        }
        if i == b {
            return true;
        }
        if b - a < SHORTEST_SHIFTING {
            return false;
        }
        v.swap(i, i - 1);
        if i - a >= 2 {
            let mut j = i - 1;
            while j >= 1 {
                if !lt(v, less, j, j - 1) {
                    break;
                }
                v.swap(j, j - 1);
                j -= 1;
            }
        }
        if b - i >= 2 {
            for j in i + 1..b {
                if !lt(v, less, j, j - 1) {
                    break;
                }
                v.swap(j, j - 1);
            }
        }
    }
    false
}

fn break_patterns<T>(v: &mut [T], a: usize, b: usize) {
    let length = b - a;
    if length >= 8 {
        let mut random = length as u64;
        let modulus = 1usize << bit_len(length);
        let idx0 = a + (length / 4) * 2 - 1;
        for idx in idx0..=idx0 + 2 {
            // The xorshift of the Go releases that built 2.42 (later ones use 13/7/17); the
            // orders in `sort_of_many_ties_and_nans_in_go_order` depend on it.
            random ^= random << 13;
            random ^= random >> 17;
            random ^= random << 5;
            let mut other = (random as usize) & (modulus - 1);
            if other >= length {
                other -= length;
            }
            v.swap(idx, a + other);
        }
    }
}

fn choose_pivot<T>(
    v: &mut [T],
    less: &impl Fn(&T, &T) -> bool,
    a: usize,
    b: usize,
) -> (usize, Hint) {
    const SHORTEST_NINTHER: usize = 50;
    const MAX_SWAPS: usize = 4 * 3;
    let l = b - a;
    let mut swaps = 0;
    let mut i = a + l / 4;
    let mut j = a + l / 4 * 2;
    let mut k = a + l / 4 * 3;
    if l >= 8 {
        if l >= SHORTEST_NINTHER {
            i = median(v, less, i - 1, i, i + 1, &mut swaps);
            j = median(v, less, j - 1, j, j + 1, &mut swaps);
            k = median(v, less, k - 1, k, k + 1, &mut swaps);
        }
        j = median(v, less, i, j, k, &mut swaps);
    }
    match swaps {
        0 => (j, Hint::Increasing),
        MAX_SWAPS => (j, Hint::Decreasing),
        _ => (j, Hint::Unknown),
    }
}

fn order2<T>(
    v: &[T],
    less: &impl Fn(&T, &T) -> bool,
    a: usize,
    b: usize,
    swaps: &mut usize,
) -> (usize, usize) {
    if lt(v, less, b, a) {
        *swaps += 1;
        (b, a)
    } else {
        (a, b)
    }
}

fn median<T>(
    v: &[T],
    less: &impl Fn(&T, &T) -> bool,
    a: usize,
    b: usize,
    c: usize,
    swaps: &mut usize,
) -> usize {
    let (a, b) = order2(v, less, a, b, swaps);
    let (b, _) = order2(v, less, b, c, swaps);
    let (_, b) = order2(v, less, a, b, swaps);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_a_sort() {
        // Deterministic pseudo-random inputs of many sizes, with many ties.
        let mut x: u64 = 88172645463325252;
        for n in [
            0usize, 1, 2, 5, 12, 13, 40, 49, 50, 51, 100, 257, 1000, 5000,
        ] {
            let mut v: Vec<(u64, usize)> = (0..n)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 17, i)
                })
                .collect();
            go_sort(&mut v, &|a: &(u64, usize), b: &(u64, usize)| a.0 < b.0);
            assert!(v.windows(2).all(|w| w[0].0 <= w[1].0), "n={n}");
            let mut idx: Vec<usize> = v.iter().map(|p| p.1).collect();
            idx.sort_unstable();
            assert!(idx.iter().enumerate().all(|(i, j)| i == *j), "n={n}");
            // Descending and already-sorted inputs take other paths.
            v.reverse();
            go_sort(&mut v, &|a: &(u64, usize), b: &(u64, usize)| a.0 < b.0);
            assert!(v.windows(2).all(|w| w[0].0 <= w[1].0), "n={n}");
        }
    }

    #[test]
    fn small_inputs_are_insertion_sorted() {
        // Up to 12 elements Go's sort is an insertion sort: stable.
        let mut v = [(2, 'a'), (1, 'b'), (2, 'c'), (1, 'd')];
        go_sort(&mut v, &|a: &(i32, char), b: &(i32, char)| a.0 < b.0);
        assert_eq!(v, [(1, 'b'), (1, 'd'), (2, 'a'), (2, 'c')]);
    }
}
