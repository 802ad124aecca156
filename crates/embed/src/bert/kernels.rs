//! The hot kernels of the BERT forward pass: a matrix multiply against weights packed once at load,
//! with bias, GELU or the residual add fused into its epilogue, plus the vectorisable `exp`/`erf`
//! that GELU and softmax need.
//!
//! Why not a general GEMM library: at batch 1 our texts are 10–30 tokens, so every product is a
//! skinny `tokens × 384` by `384 × N` one. A general GEMM repacks the weights on every call, which
//! here costs about as much as the arithmetic; packing them once at load and streaming each 32-column
//! panel straight from memory leaves only the multiply-adds.
//!
//! The kernels are plain Rust over fixed-size arrays. They are compiled three times — for AVX-512,
//! for AVX2+FMA and for the baseline target — and the widest one the CPU supports is picked at load
//! (`is_x86_feature_detected!`); LLVM turns the fixed-width loops into 512-, 256- or 128-bit vector
//! code. On other architectures only the baseline build exists (NEON is baseline on aarch64).

// Index loops mirror the register tiles (row r, lane j) the kernels are written around.
#![allow(clippy::needless_range_loop)]

/// Output columns per packed panel and per microkernel tile: two 512-bit registers per row.
pub(crate) const NR: usize = 32;

/// Rows of the activation matrix kept hot per pass over the weight panels (96 × 1536 floats = 576 KiB,
/// inside a core's L2), so long batches do not stream activations from L3 once per panel.
const ROW_BLOCK: usize = 96;

/// The instruction set the kernels run with, decided once at load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// 32 zmm registers: tiles of up to 12 rows × 32 columns (24 accumulators).
    Avx512,
    /// 16 ymm registers: tiles of up to 3 rows × 32 columns (12 accumulators).
    Avx2Fma,
}

impl Isa {
    /// The widest kernels this CPU runs, or `None` where there are none (not x86-64, or an x86-64
    /// without AVX2 and FMA): callers then use candle, whose GEMM has kernels for those CPUs.
    pub(crate) fn detect() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Some(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Some(Isa::Avx2Fma);
            }
        }
        None
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2Fma => "avx2+fma",
        }
    }
}

/// A PyTorch `Linear` (weight `n × k`, row-major, plus bias) repacked into `n / NR` panels, each `k`
/// rows of `NR` consecutive output columns, so the microkernel reads one contiguous 128-byte line per
/// step of `k`.
pub(crate) struct PackedLinear {
    pub(crate) k: usize,
    pub(crate) n: usize,
    data: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedLinear {
    /// `weight` is `n × k` row-major (PyTorch's layout), `bias` has `n` entries; `n` must be a
    /// multiple of [`NR`] (true of every MiniLM/BERT projection: 384, 1152, 1536).
    pub(crate) fn pack(weight: &[f32], bias: &[f32], n: usize, k: usize) -> Option<Self> {
        if !n.is_multiple_of(NR) || weight.len() != n * k || bias.len() != n {
            return None;
        }
        let mut data = vec![0f32; n * k];
        for (p, panel) in data.chunks_exact_mut(k * NR).enumerate() {
            for (kk, line) in panel.chunks_exact_mut(NR).enumerate() {
                for (j, v) in line.iter_mut().enumerate() {
                    *v = weight[(p * NR + j) * k + kk];
                }
            }
        }
        Some(Self {
            k,
            n,
            data,
            bias: bias.to_vec(),
        })
    }

    pub(crate) fn panels(&self) -> usize {
        self.n / NR
    }
}

/// What happens to `x·Wᵀ + b` before it is stored.
#[derive(Clone, Copy)]
pub(crate) enum Epilogue<'a> {
    /// Store as is.
    Bias,
    /// Store `gelu(·)` (BERT's exact, erf-based GELU).
    Gelu,
    /// Store `· + residual` (same shape as the output): the skip connection before a LayerNorm.
    Residual(&'a [f32]),
}

/// Output matrix shared between the threads of one [`linear`] call. Each thread writes only the
/// columns of the panels it was given, so writes never overlap; a raw pointer is needed because those
/// column ranges are interleaved in memory and cannot be expressed as disjoint `&mut` slices.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr {
    ptr: *mut f32,
    len: usize,
}
// SAFETY: see the type's doc — concurrent users write disjoint elements, and the pointee outlives
// them (`linear` joins its threads before returning the borrow).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    pub(crate) fn new(out: &mut [f32]) -> Self {
        Self {
            ptr: out.as_mut_ptr(),
            len: out.len(),
        }
    }
}

/// `out[rows × n] = epilogue(x[rows × k] · Wᵀ + b)`, splitting the weight panels over up to
/// `threads` rayon tasks (run this inside the engine's pool).
pub(crate) fn linear(
    isa: Isa,
    x: &[f32],
    rows: usize,
    w: &PackedLinear,
    epi: Epilogue<'_>,
    out: &mut [f32],
    threads: usize,
) {
    assert_eq!(x.len(), rows * w.k, "linear: input shape");
    assert_eq!(out.len(), rows * w.n, "linear: output shape");
    if let Epilogue::Residual(r) = epi {
        assert_eq!(r.len(), out.len(), "linear: residual shape");
    }
    let out = OutPtr::new(out);
    let panels = w.panels();
    // Tiny products are not worth waking a second thread for.
    let tasks = if rows * w.k * w.n < 64 * 1024 {
        1
    } else {
        threads.clamp(1, panels)
    };
    if tasks == 1 {
        run_panels(isa, x, rows, w, 0, panels, epi, out);
        return;
    }
    rayon::scope(|s| {
        for t in 1..tasks {
            let (p0, p1) = (panels * t / tasks, panels * (t + 1) / tasks);
            s.spawn(move |_| run_panels(isa, x, rows, w, p0, p1, epi, out));
        }
        run_panels(isa, x, rows, w, 0, panels / tasks, epi, out);
    });
}

#[allow(clippy::too_many_arguments)]
fn run_panels(
    isa: Isa,
    x: &[f32],
    rows: usize,
    w: &PackedLinear,
    p0: usize,
    p1: usize,
    epi: Epilogue<'_>,
    out: OutPtr,
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` is only ever produced by `Isa::detect` after checking the CPU.
        Isa::Avx512 => unsafe { x86::panels_avx512(x, rows, w, p0, p1, epi, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2 and FMA.
        Isa::Avx2Fma => unsafe { x86::panels_avx2(x, rows, w, p0, p1, epi, out) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("Isa::detect never returns a value off x86-64"),
    }
}

/// Splits `rows` into tiles of at most `mr_max` rows, as even as possible (17 rows with 12 at most
/// become 9 + 8, not 12 + 5), and calls `f(first_row, height)` for each.
#[inline(always)]
pub(crate) fn for_each_tile(
    rows: std::ops::Range<usize>,
    mr_max: usize,
    mut f: impl FnMut(usize, usize),
) {
    let mut r = rows.start;
    while r < rows.end {
        let left = rows.end - r;
        let mr = left.div_ceil(left.div_ceil(mr_max));
        f(r, mr);
        r += mr;
    }
}

/// Adds bias and applies the epilogue to one finished row of a tile, then stores it.
#[inline(always)]
pub(crate) fn finish_row(
    acc: &mut [f32; NR],
    bias: &[f32; NR],
    epi: Epilogue<'_>,
    out: OutPtr,
    start: usize,
) {
    assert!(start + NR <= out.len, "tile out of bounds");
    for j in 0..NR {
        acc[j] += bias[j];
    }
    match epi {
        Epilogue::Bias => {}
        Epilogue::Gelu => acc.iter_mut().for_each(|v| *v = gelu(*v)),
        Epilogue::Residual(res) => {
            let res = &res[start..start + NR];
            for j in 0..NR {
                acc[j] += res[j];
            }
        }
    }
    // SAFETY: in bounds (asserted above); this tile's columns belong to this thread alone (see
    // `OutPtr`), and nothing reads `out` until `linear` has joined every thread.
    let dst = unsafe { std::slice::from_raw_parts_mut(out.ptr.add(start), NR) };
    dst.copy_from_slice(acc);
}

/// The microkernels, with explicit vector intrinsics: written as plain loops over arrays, LLVM kept
/// the accumulators on the stack and ran scalar code (measured: 11 texts/s).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{finish_row, for_each_tile, Epilogue, OutPtr, PackedLinear, NR, ROW_BLOCK};
    use std::arch::x86_64::*;

    /// Defines `$name`, which runs every tile of panels `p0..p1` with the microkernel `$tile`, whose
    /// instantiations for the heights `$m…` (1 up to the ISA's tallest) are listed.
    macro_rules! panels {
        ($name:ident, $feat:literal, $mr_max:literal, $tile:ident, [$($m:literal)*]) => {
            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub(super) unsafe fn $name(
                x: &[f32],
                rows: usize,
                w: &PackedLinear,
                p0: usize,
                p1: usize,
                epi: Epilogue<'_>,
                out: OutPtr,
            ) {
                let k = w.k;
                let mut rb = 0;
                while rb < rows {
                    let rb_end = (rb + ROW_BLOCK).min(rows);
                    for p in p0..p1 {
                        let panel = &w.data[p * k * NR..(p + 1) * k * NR];
                        let bias: &[f32; NR] = w.bias[p * NR..(p + 1) * NR]
                            .try_into()
                            .expect("bias panel is NR wide");
                        for_each_tile(rb..rb_end, $mr_max, |r, mr| {
                            let a = &x[r * k..(r + mr) * k];
                            let mut acc = [[0f32; NR]; $mr_max];
                            match mr {
                                // SAFETY: this function's target features are the tile's.
                                $($m => unsafe { $tile::<$m>(a, panel, k, &mut acc) },)*
                                _ => unreachable!("tile height {mr} > {}", $mr_max),
                            }
                            for (i, row) in acc.iter_mut().take(mr).enumerate() {
                                finish_row(row, bias, epi, out, (r + i) * w.n + p * NR);
                            }
                        });
                    }
                    rb = rb_end;
                }
            }
        };
    }

    /// How many `k` steps (128-byte weight lines) ahead the AVX-512 kernel prefetches: ~300 cycles of
    /// DRAM latency at ~10 cycles per step.
    pub(super) const PREFETCH: usize = 32;

    panels!(panels_avx512, "avx512f,avx2,fma", 12, tile_avx512, [1 2 3 4 5 6 7 8 9 10 11 12]);
    panels!(panels_avx2, "avx2,fma", 3, tile_avx2, [1 2 3]);

    /// `acc[0..MR] = a[0..MR] · panel`: `MR` rows of `a` (each `k` long) times one packed panel.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn tile_avx512<const MR: usize>(
        a: &[f32],
        panel: &[f32],
        k: usize,
        acc: &mut [[f32; NR]],
    ) {
        assert!(a.len() >= MR * k && panel.len() >= k * NR && acc.len() >= MR);
        let (ap, bp) = (a.as_ptr(), panel.as_ptr());
        let mut lo = [_mm512_setzero_ps(); MR];
        let mut hi = [_mm512_setzero_ps(); MR];
        for kk in 0..k {
            // Weights stream from L3 or DRAM once per forward pass, and the profile showed the loads
            // of the panel stalling: fetch PREFETCH steps ahead (the panels lie end to end, so this runs
            // on into the next one). `wrapping_add` because the address may pass the allocation's
            // end, which a prefetch may touch (it never faults) but `add` must not compute.
            let ahead = bp.wrapping_add((kk + PREFETCH) * NR);
            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(16).cast());
            // SAFETY: kk < k and r < MR, so every offset is inside the lengths asserted above.
            unsafe {
                let b0 = _mm512_loadu_ps(bp.add(kk * NR));
                let b1 = _mm512_loadu_ps(bp.add(kk * NR + 16));
                for r in 0..MR {
                    let av = _mm512_set1_ps(*ap.add(r * k + kk));
                    lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
                    hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
                }
            }
        }
        for r in 0..MR {
            // SAFETY: `acc[r]` is NR = 32 floats.
            unsafe {
                _mm512_storeu_ps(acc[r].as_mut_ptr(), lo[r]);
                _mm512_storeu_ps(acc[r].as_mut_ptr().add(16), hi[r]);
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile_avx2<const MR: usize>(
        a: &[f32],
        panel: &[f32],
        k: usize,
        acc: &mut [[f32; NR]],
    ) {
        assert!(a.len() >= MR * k && panel.len() >= k * NR && acc.len() >= MR);
        let (ap, bp) = (a.as_ptr(), panel.as_ptr());
        let mut c = [[_mm256_setzero_ps(); 4]; MR];
        for kk in 0..k {
            // SAFETY: kk < k and r < MR, so every offset is inside the lengths asserted above.
            unsafe {
                let b = [
                    _mm256_loadu_ps(bp.add(kk * NR)),
                    _mm256_loadu_ps(bp.add(kk * NR + 8)),
                    _mm256_loadu_ps(bp.add(kk * NR + 16)),
                    _mm256_loadu_ps(bp.add(kk * NR + 24)),
                ];
                for r in 0..MR {
                    let av = _mm256_set1_ps(*ap.add(r * k + kk));
                    for q in 0..4 {
                        c[r][q] = _mm256_fmadd_ps(av, b[q], c[r][q]);
                    }
                }
            }
        }
        for r in 0..MR {
            for q in 0..4 {
                // SAFETY: `acc[r]` is NR = 32 floats.
                unsafe { _mm256_storeu_ps(acc[r].as_mut_ptr().add(q * 8), c[r][q]) };
            }
        }
    }
}

/// `e^x` to about 1 ulp of f32 over the range that matters here (Cephes' `expf` polynomial), written
/// without branches or libm calls so loops over it vectorise. Clamped: `x < -87` gives ~0, `x > 88`
/// gives ~f32::MAX rather than infinity.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients, as published
pub(crate) fn exp(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer in the low bits
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + SHIFT;
    let n = t - SHIFT;
    let n_bits = (t.to_bits() as i32).wrapping_sub(SHIFT.to_bits() as i32);
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let y = p * r2 + r + 1.0;
    y * f32::from_bits((n_bits.wrapping_add(127) << 23) as u32)
}

/// erf(x) by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7) on top of [`exp`].
#[inline(always)]
#[allow(clippy::excessive_precision)] // Abramowitz & Stegun's coefficients, as published
pub(crate) fn erf(x: f32) -> f32 {
    let ax = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * ax);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_8) * t - 0.284_496_74) * t
        + 0.254_829_6)
        * t;
    let y = 1.0 - poly * exp(-ax * ax);
    y.copysign(x)
}

/// BERT's GELU: `x · Φ(x) = x/2 · (1 + erf(x/√2))`.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], rows: usize, w: &[f32], b: &[f32], n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0f32; rows * n];
        for r in 0..rows {
            for c in 0..n {
                let mut s = f64::from(b[c]);
                for kk in 0..k {
                    s += f64::from(x[r * k + kk]) * f64::from(w[c * k + kk]);
                }
                out[r * n + c] = s as f32;
            }
        }
        out
    }

    /// Deterministic pseudo-random values in [-1, 1) (no `rand` dependency needed).
    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn linear_matches_naive_on_every_isa_shape_and_epilogue() {
        // Every flavour this CPU can run: AVX-512 machines test the AVX2 kernels too.
        let isas: Vec<Isa> = match Isa::detect() {
            Some(Isa::Avx512) => vec![Isa::Avx512, Isa::Avx2Fma],
            Some(Isa::Avx2Fma) => vec![Isa::Avx2Fma],
            None => return,
        };
        let (n, k) = (96, 40);
        let w = values(n * k, 1);
        let b = values(n, 2);
        let packed = PackedLinear::pack(&w, &b, n, k).unwrap();
        // Heights around the tile and row-block sizes, including the ragged ones.
        for rows in [1, 2, 5, 12, 13, 17, 25, 97, 200] {
            let x = values(rows * k, rows as u32 + 3);
            let want = naive(&x, rows, &w, &b, n, k);
            let res = values(rows * n, 99);
            for &isa in &isas {
                for threads in [1, 2, 3] {
                    let mut out = vec![0f32; rows * n];
                    linear(isa, &x, rows, &packed, Epilogue::Bias, &mut out, threads);
                    for (o, e) in out.iter().zip(&want) {
                        assert!((o - e).abs() < 1e-4, "{isa:?} rows {rows}: {o} vs {e}");
                    }
                    linear(
                        isa,
                        &x,
                        rows,
                        &packed,
                        Epilogue::Residual(&res),
                        &mut out,
                        threads,
                    );
                    for ((o, e), r) in out.iter().zip(&want).zip(&res) {
                        assert!((o - (e + r)).abs() < 1e-4, "{isa:?} residual");
                    }
                    linear(isa, &x, rows, &packed, Epilogue::Gelu, &mut out, threads);
                    for (o, e) in out.iter().zip(&want) {
                        let g = 0.5 * f64::from(*e) * (1.0 + erf_f64(f64::from(*e) / 2f64.sqrt()));
                        assert!((f64::from(*o) - g).abs() < 1e-4, "{isa:?} gelu");
                    }
                }
            }
        }
    }

    /// erf by its Taylor series (asymptotic tail past 3), in f64, as an independent reference.
    fn erf_f64(x: f64) -> f64 {
        if x.abs() > 3.0 {
            // Asymptotic erfc; its first omitted term is ~1e-3 of erfc(3) ≈ 2e-5.
            let (a, x2) = (x.abs(), x * x);
            let erfc = (-x2).exp() / (a * std::f64::consts::PI.sqrt())
                * (1.0 - 1.0 / (2.0 * x2) + 3.0 / (4.0 * x2 * x2) - 15.0 / (8.0 * x2 * x2 * x2));
            return x.signum() * (1.0 - erfc);
        }
        // The Taylor series; for |x| ≤ 3 its largest term (~e^9) leaves f64 ~1e-12 of precision.
        let mut sum = 0.0;
        let mut term = x;
        for n in 0..200 {
            sum += term / (2 * n + 1) as f64;
            term *= -x * x / (n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn exp_and_erf_are_accurate() {
        let mut x = -20.0f32;
        while x < 20.0 {
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            assert!(
                ((got - want) / want).abs() < 3e-7,
                "exp({x}) = {got} vs {want}"
            );
            x += 0.013;
        }
        assert!(exp(-200.0) < 1e-37 && exp(-200.0) >= 0.0);
        assert!(exp(200.0).is_finite());
        let mut x = -6.0f32;
        while x < 6.0 {
            let want = erf_f64(f64::from(x));
            assert!((f64::from(erf(x)) - want).abs() < 5e-7, "erf({x})");
            x += 0.007;
        }
    }

    #[test]
    fn pack_rejects_bad_shapes() {
        assert!(PackedLinear::pack(&[0.0; 31 * 2], &[0.0; 31], 31, 2).is_none());
        assert!(PackedLinear::pack(&[0.0; 64], &[0.0; 32], 32, 3).is_none());
    }
}
