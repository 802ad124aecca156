//! An int8 variant of [`super::kernels::linear`] for CPUs with AVX-512 VNNI: weights quantised once
//! at load (symmetric, one scale per output column), activations quantised per row on the fly
//! (symmetric, one scale per token), products accumulated exactly in i32 by `vpdpbusd` (64
//! multiply-adds per instruction against 16 for f32 FMA), and a quarter of the f32 weight traffic.
//!
//! `vpdpbusd` multiplies *unsigned* by signed bytes, so activations are stored shifted by +128; the
//! shift's contribution (128 · Σₖ w) is precomputed per column and subtracted.

// Index loops mirror the register tiles (row r, lane j) the kernels are written around.
#![allow(clippy::needless_range_loop)]

use super::kernels::{Epilogue, OutPtr, NR};

/// A `Linear` (`n × k` weights) quantised and packed for `vpdpbusd`: panels of [`NR`] columns; inside
/// one, for each group of 4 consecutive `k`, the 4 weights of column 0, then column 1, … (128 bytes).
pub(crate) struct PackedLinearI8 {
    pub(crate) k: usize,
    pub(crate) n: usize,
    data: Vec<i8>,
    /// Per column: the weight scale (w ≈ scale · q).
    scale: Vec<f32>,
    /// Per column: 128 · Σₖ q, the +128 shift's share of each dot product.
    shift: Vec<i32>,
    bias: Vec<f32>,
}

impl PackedLinearI8 {
    /// `weight` is `n × k` row-major; `n` a multiple of [`NR`] and `k` of 4.
    pub(crate) fn pack(weight: &[f32], bias: &[f32], n: usize, k: usize) -> Option<Self> {
        if !n.is_multiple_of(NR) || !k.is_multiple_of(4) || weight.len() != n * k || bias.len() != n
        {
            return None;
        }
        let mut q = vec![0i8; n * k];
        let mut scale = vec![0f32; n];
        let mut shift = vec![0i32; n];
        for c in 0..n {
            let row = &weight[c * k..(c + 1) * k];
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
            scale[c] = s;
            let mut sum = 0i32;
            for (kk, &v) in row.iter().enumerate() {
                let qv = (v / s).round().clamp(-127.0, 127.0) as i8;
                q[c * k + kk] = qv;
                sum += i32::from(qv);
            }
            shift[c] = 128 * sum;
        }
        let mut data = vec![0i8; n * k];
        for (p, panel) in data.chunks_exact_mut(k * NR).enumerate() {
            for (g, group) in panel.chunks_exact_mut(4 * NR).enumerate() {
                for (j, quad) in group.chunks_exact_mut(4).enumerate() {
                    let c = p * NR + j;
                    quad.copy_from_slice(&q[c * k + 4 * g..c * k + 4 * g + 4]);
                }
            }
        }
        Some(Self {
            k,
            n,
            data,
            scale,
            shift,
            bias: bias.to_vec(),
        })
    }
}

/// Quantises each `k`-wide row of `x` to u8 (value/scale + 128) into `q`, with its scale in `scales`.
pub(crate) fn quantize_rows(x: &[f32], k: usize, q: &mut Vec<u8>, scales: &mut Vec<f32>) {
    q.clear();
    scales.clear();
    for row in x.chunks_exact(k) {
        let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
        let inv = 1.0 / s;
        scales.push(s);
        // Round half up by truncating `x + 128.5` (x ∈ [-127, 127] after the clamp, so the sum is
        // positive and the cast exact): unlike `f32::round` (a libm call) this vectorises.
        q.extend(
            row.iter()
                .map(|&v| ((v * inv).clamp(-127.0, 127.0) + 128.5) as u8),
        );
    }
}

/// Whether this CPU has the instructions the int8 kernel needs.
pub(crate) fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out = epilogue(dequant(q · Wqᵀ) + b)` for rows already quantised by [`quantize_rows`]; panels
/// split over up to `threads` rayon tasks like the f32 `linear`. Only call when [`supported`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn linear_i8(
    q: &[u8],
    scales: &[f32],
    rows: usize,
    w: &PackedLinearI8,
    epi: Epilogue<'_>,
    out: &mut [f32],
    threads: usize,
) {
    assert!(supported(), "linear_i8 without AVX-512 VNNI");
    assert_eq!(q.len(), rows * w.k, "linear_i8: input shape");
    assert_eq!(scales.len(), rows, "linear_i8: scales");
    assert_eq!(out.len(), rows * w.n, "linear_i8: output shape");
    if let Epilogue::Residual(r) = epi {
        assert_eq!(r.len(), out.len(), "linear_i8: residual shape");
    }
    let out = OutPtr::new(out);
    let panels = w.n / NR;
    let tasks = if rows * w.k * w.n < 64 * 1024 {
        1
    } else {
        threads.clamp(1, panels)
    };
    let run = move |p0: usize, p1: usize| {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `supported()` was asserted above.
        unsafe {
            x86::panels(q, scales, rows, w, p0, p1, epi, out)
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (p0, p1);
    };
    if tasks == 1 {
        run(0, panels);
        return;
    }
    rayon::scope(|s| {
        for t in 1..tasks {
            let (p0, p1) = (panels * t / tasks, panels * (t + 1) / tasks);
            s.spawn(move |_| run(p0, p1));
        }
        run(0, panels / tasks);
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::kernels::{finish_row, for_each_tile, Epilogue, OutPtr, NR};
    use super::PackedLinearI8;
    use std::arch::x86_64::*;

    const MR_MAX: usize = 12;
    /// Groups of 4 `k` (128 bytes) prefetched ahead; fewer cycles per group than the f32 kernel's step.
    const PREFETCH: usize = 16;

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn panels(
        q: &[u8],
        scales: &[f32],
        rows: usize,
        w: &PackedLinearI8,
        p0: usize,
        p1: usize,
        epi: Epilogue<'_>,
        out: OutPtr,
    ) {
        let k = w.k;
        for p in p0..p1 {
            let panel = &w.data[p * k * NR..(p + 1) * k * NR];
            let cols = p * NR..(p + 1) * NR;
            let bias: &[f32; NR] = w.bias[cols.clone()].try_into().expect("NR wide");
            let wscale = &w.scale[cols.clone()];
            let shift = &w.shift[cols];
            for_each_tile(0..rows, MR_MAX, |r, mr| {
                let a = &q[r * k..(r + mr) * k];
                let mut acc = [[0i32; NR]; MR_MAX];
                macro_rules! go {
                    ($($m:literal)*) => {
                        match mr {
                            // SAFETY: this function's target features are the tile's.
                            $($m => unsafe { tile::<$m>(a, panel, k, &mut acc) },)*
                            _ => unreachable!("tile height {mr} > {MR_MAX}"),
                        }
                    };
                }
                go!(1 2 3 4 5 6 7 8 9 10 11 12);
                for (i, acc_row) in acc.iter().take(mr).enumerate() {
                    let rs = scales[r + i];
                    let mut row = [0f32; NR];
                    for j in 0..NR {
                        row[j] = (acc_row[j] - shift[j]) as f32 * (rs * wscale[j]);
                    }
                    finish_row(&mut row, bias, epi, out, (r + i) * w.n + p * NR);
                }
            });
        }
    }

    /// `acc[0..MR] = a[0..MR] · panel` in i32: `MR` rows of shifted u8 activations times one panel.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
    #[inline]
    unsafe fn tile<const MR: usize>(a: &[u8], panel: &[i8], k: usize, acc: &mut [[i32; NR]]) {
        assert!(
            a.len() >= MR * k && panel.len() >= k * NR && acc.len() >= MR && k.is_multiple_of(4)
        );
        let (ap, bp) = (a.as_ptr(), panel.as_ptr());
        let mut lo = [_mm512_setzero_si512(); MR];
        let mut hi = [_mm512_setzero_si512(); MR];
        for g in 0..k / 4 {
            // Prefetch as the f32 kernel does (`wrapping_add`: may point past the allocation).
            let ahead = bp.wrapping_add((g + PREFETCH) * 4 * NR);
            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64).cast());
            // SAFETY: 4g + 3 < k and r < MR, and a group is 4·NR = 128 bytes of the panel, so every
            // read is inside the lengths asserted above.
            unsafe {
                let b0 = _mm512_loadu_si512(bp.add(g * 4 * NR).cast());
                let b1 = _mm512_loadu_si512(bp.add(g * 4 * NR + 64).cast());
                for r in 0..MR {
                    let quad = ap.add(r * k + 4 * g).cast::<i32>().read_unaligned();
                    let av = _mm512_set1_epi32(quad);
                    lo[r] = _mm512_dpbusd_epi32(lo[r], av, b0);
                    hi[r] = _mm512_dpbusd_epi32(hi[r], av, b1);
                }
            }
        }
        for r in 0..MR {
            // SAFETY: `acc[r]` is NR = 32 i32s.
            unsafe {
                _mm512_storeu_si512(acc[r].as_mut_ptr().cast(), lo[r]);
                _mm512_storeu_si512(acc[r].as_mut_ptr().add(16).cast(), hi[r]);
            }
        }
    }
}
