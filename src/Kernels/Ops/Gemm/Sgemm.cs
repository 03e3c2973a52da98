using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Kernels.Cpu;

namespace Kernels.Ops.Gemm;

/// <summary>Packed, cache-blocked float32 GEMM (Goto/BLIS loop order). A is packed into MR-row
/// micro-panels and B into NR-column micro-panels (transposes, leading dimensions and offsets are
/// resolved while packing), so the micro-kernel streams both contiguously. The 512-bit kernel is
/// 6×32, the 256-bit kernel 6×16; both keep their 12 accumulators in registers.</summary>
internal static unsafe class Sgemm
{
    // The hot loops are marked AggressiveOptimization: compiled fully optimised on first call, so
    // the first GEMMs of a run do not execute tier-0 code while tiering catches up.
    internal const int MR = 6;

    /// <summary>Depth of a packed block: the B micro-panel (KC×NR) should stay in L1.</summary>
    internal static int KC = 256;

    /// <summary>Rows of a packed A block (multiple of MR): MC×KC stays in L2.</summary>
    internal static int MC = 96;

    /// <summary>Columns of a packed B block (multiple of 32): KC×NC lives in L2/L3.</summary>
    internal static int NC = 512;

    /// <summary>Tests set this to run the 256-bit kernel on machines with AVX-512.</summary>
    internal static bool ForceVector256;

    /// <summary>Below this many flops a call runs on the calling thread.</summary>
    internal const long ParallelFlops = 4_000_000;

    /// <summary>The packed path needs FMA; elsewhere the caller falls back to the reference.</summary>
    internal static bool Supported => Fma.IsSupported && Vector256.IsHardwareAccelerated;

    internal static bool Use512 => !ForceVector256 && Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    internal static int NR => Use512 ? 32 : 16;

    public static void Run(in GemmShape s, float alpha, float[] a, float[] b, float beta, float[] c)
    {
        if (s.M == 0 || s.N == 0 || s.Batch == 0) return;
        if (s.K == 0 || alpha == 0)
        {
            GemmCpu.ScaleC(s, beta, c);
            return;
        }
        bool wide = Use512;
        int threads = Math.Max(1, CpuParallel.Threads);
        if (s.Flops < ParallelFlops) threads = 1;
        var shape = s;
        fixed (float* pa = a, pb = b, pc = c)
        {
            nint ia = (nint)pa, ib = (nint)pb, ic = (nint)pc;
            if (threads > 1 && s.Batch >= threads)
                // Enough independent products: one per task.
                Parallel.For(0, s.Batch, new ParallelOptions { MaxDegreeOfParallelism = threads },
                    bi => Product(shape, bi, alpha, (float*)ia, (float*)ib, beta, (float*)ic, wide, 1));
            else
                for (int bi = 0; bi < s.Batch; bi++)
                    Product(shape, bi, alpha, pa, pb, beta, pc, wide, threads);
        }
    }

    /// <summary>Batch entry bi as one parallel loop (one hand-off per call, which matters on a
    /// busy machine) over dynamically scheduled tasks: one MC row block × one NC column block (or
    /// a chunk of it when rows are few). Each worker packs the B column block it needs, all KC
    /// depth blocks, into its own buffer and keeps it while its next tasks (row blocks of the same
    /// column block come first) reuse it; per depth block it packs its A block and runs the
    /// micro-kernel. Tasks write disjoint C tiles at least a 16-column panel apart.</summary>
    private static void Product(in GemmShape s, int bi, float alpha, float* a, float* b, float beta, float* c,
        bool wide, int threads)
    {
        int nr = wide ? 32 : 16;
        int kcMax = KC, mcMax = MC, ncMax = NC;
        a += s.OffsetA + bi * s.StrideA;
        b += s.OffsetB + bi * s.StrideB;
        c += s.OffsetC + bi * s.StrideC;
        int mBlocks = (s.M + mcMax - 1) / mcMax, ncBlocks = (s.N + ncMax - 1) / ncMax;
        int blockPanels = (Math.Min(ncMax, s.N) + nr - 1) / nr;
        // Few row blocks: split each column block into chunks so every thread has several tasks.
        int perChunk = threads == 1 ? blockPanels
            : Math.Clamp(blockPanels * mBlocks * ncBlocks / (4 * threads), 1, blockPanels);
        int chunks = (blockPanels + perChunk - 1) / perChunk;
        int tasks = mBlocks * chunks * ncBlocks;
        long bLen = (long)blockPanels * nr * s.K;
        nint ia = (nint)a, ib = (nint)b, ic = (nint)c, ldc = s.LdC;
        var shape = s;

        PackBuffer Task(int u, PackBuffer buf)
        {
            int rb = u % mBlocks, rest = u / mBlocks, cc = rest % chunks, jb = rest / chunks;
            int row0 = rb * mcMax, mc = Math.Min(mcMax, shape.M - row0);
            int jStart = jb * ncMax, ncb = Math.Min(ncMax, shape.N - jStart);
            int ncPad = (ncb + nr - 1) / nr * nr;
            int col0 = cc * perChunk * nr;
            if (col0 >= ncb) return buf;
            int cols = Math.Min(ncb, col0 + perChunk * nr) - col0;
            float* bp = buf.EnsureB(bLen);
            if (buf.PackedBlock != jb)
            {
                // Depth block pc of this column block sits at pc·ncPad, panel after panel (NR×kc each).
                for (int pc = 0; pc < shape.K; pc += kcMax)
                    PackB(shape, (float*)ib, pc, Math.Min(kcMax, shape.K - pc), jStart, ncb, bp + (long)pc * ncPad, nr);
                buf.PackedBlock = jb;
            }
            float* cBlock = (float*)ic + row0 * ldc + jStart + col0;
            for (int pc = 0; pc < shape.K; pc += kcMax)
            {
                int kc = Math.Min(kcMax, shape.K - pc);
                PackA(shape, (float*)ia, row0, mc, pc, kc, buf.A);
                // Later depth blocks accumulate onto what the first one wrote.
                Macro(kc, buf.A, bp + (long)pc * ncPad + (long)col0 * kc, cBlock, ldc, mc, cols, alpha,
                    pc == 0 ? beta : 1f, wide);
            }
            return buf;
        }

        if (threads == 1 || tasks == 1)
        {
            var buf = PackBuffer.Rent();
            try
            {
                for (int u = 0; u < tasks; u++) Task(u, buf);
            }
            finally { PackBuffer.Return(buf); }
            return;
        }
        Parallel.For(0, tasks, new ParallelOptions { MaxDegreeOfParallelism = threads }, PackBuffer.Rent,
            (u, _, buf) => Task(u, buf), PackBuffer.Return);
    }

    /// <summary>C[mc × nc] from a packed A block and packed B panels, tile by tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Macro(int kc, float* ap, float* bp, float* c, nint ldc, int mc, int nc, float alpha,
        float beta, bool wide)
    {
        int nr = wide ? 32 : 16;
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            float* bPanel = bp + (long)jr * kc;
            for (int ir = 0; ir < mc; ir += MR)
            {
                int rows = Math.Min(MR, mc - ir);
                float* cTile = c + ir * ldc + jr;
                float* aPanel = ap + (long)ir * kc;
                if (rows == MR && cols == nr)
                {
                    if (wide) Kernel6x32(kc, aPanel, bPanel, cTile, ldc, alpha, beta);
                    else Kernel6x16(kc, aPanel, bPanel, cTile, ldc, alpha, beta);
                }
                else EdgeTile(kc, aPanel, bPanel, cTile, ldc, alpha, beta, rows, cols, wide);
            }
        }
    }

    /// <summary>A partial tile: the full kernel writes a scratch tile, then the valid part is merged.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EdgeTile(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta,
        int rows, int cols, bool wide)
    {
        float* tmp = stackalloc float[MR * 32];
        if (wide) Kernel6x32(kc, a, b, tmp, 32, 1f, 0f);
        else Kernel6x16(kc, a, b, tmp, 16, 1f, 0f);
        int nr = wide ? 32 : 16;
        for (int r = 0; r < rows; r++)
        {
            float* dst = c + r * ldc;
            float* src = tmp + r * nr;
            if (beta == 0)
                for (int j = 0; j < cols; j++) dst[j] = alpha * src[j];
            else
                for (int j = 0; j < cols; j++) dst[j] = alpha * src[j] + beta * dst[j];
        }
    }

    /// <summary>Packs op(A)[ic:ic+mc, pc:pc+kc] as MR-row panels, element (p, r) at p·MR + r;
    /// rows past mc are zero so the kernel never branches.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(in GemmShape s, float* a, int ic, int mc, int pc, int kc, float* dst)
    {
        nint lda = s.LdA;
        if (s.TransA)
        {
            // Stored K×M: op(A)'s column p is a contiguous row. Walk each source row once across
            // all panels (one page per row instead of one per row and panel).
            int full = mc / MR * MR;
            for (int p = 0; p < kc; p++)
            {
                float* src = a + (pc + p) * lda + ic;
                float* d = dst + p * MR;
                int ir = 0;
                for (; ir < full; ir += MR, d += (nint)MR * kc)
                {
                    d[0] = src[ir]; d[1] = src[ir + 1]; d[2] = src[ir + 2];
                    d[3] = src[ir + 3]; d[4] = src[ir + 4]; d[5] = src[ir + 5];
                }
                if (ir < mc)
                    for (int r = 0; r < MR; r++) d[r] = ir + r < mc ? src[ir + r] : 0f;
            }
            return;
        }
        for (int ir = 0; ir < mc; ir += MR)
        {
            int rows = Math.Min(MR, mc - ir);
            float* d = dst + (long)ir * kc;
            float* s0 = a + (ic + ir) * lda + pc;
            if (rows == MR)
            {
                float* s1 = s0 + lda, s2 = s1 + lda, s3 = s2 + lda, s4 = s3 + lda, s5 = s4 + lda;
                for (int p = 0; p < kc; p++, d += MR)
                {
                    d[0] = s0[p]; d[1] = s1[p]; d[2] = s2[p];
                    d[3] = s3[p]; d[4] = s4[p]; d[5] = s5[p];
                }
            }
            else
                for (int p = 0; p < kc; p++, d += MR)
                    for (int r = 0; r < MR; r++) d[r] = r < rows ? s0[r * lda + p] : 0f;
        }
    }

    /// <summary>Packs op(B)[pc:pc+kc, jc:jc+nc] as NR-column panels, element (p, j) at p·NR + j;
    /// columns past nc are zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(in GemmShape s, float* b, int pc, int kc, int jc, int nc, float* dst, int nr)
    {
        nint ldb = s.LdB;
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            float* d = dst + (long)jr * kc;
            if (!s.TransB)
            {
                float* src = b + pc * ldb + jc + jr;
                if (cols == nr)
                {
                    if (nr == 32)
                        for (int p = 0; p < kc; p++, src += ldb, d += 32)
                        {
                            Vector256.Store(Vector256.Load(src), d);
                            Vector256.Store(Vector256.Load(src + 8), d + 8);
                            Vector256.Store(Vector256.Load(src + 16), d + 16);
                            Vector256.Store(Vector256.Load(src + 24), d + 24);
                        }
                    else
                        for (int p = 0; p < kc; p++, src += ldb, d += 16)
                        {
                            Vector256.Store(Vector256.Load(src), d);
                            Vector256.Store(Vector256.Load(src + 8), d + 8);
                        }
                }
                else
                    for (int p = 0; p < kc; p++, src += ldb, d += nr)
                        for (int j = 0; j < nr; j++) d[j] = j < cols ? src[j] : 0f;
            }
            else
            {
                // Stored N×K: read each column of op(B) contiguously, write it strided into the panel.
                for (int j = 0; j < nr; j++)
                {
                    float* dj = d + j;
                    if (j < cols)
                    {
                        float* src = b + (jc + jr + j) * ldb + pc;
                        for (int p = 0; p < kc; p++) dj[p * nr] = src[p];
                    }
                    else
                        for (int p = 0; p < kc; p++) dj[p * nr] = 0f;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* dst, Vector512<float> acc, Vector512<float> alpha, float beta)
    {
        if (beta == 0) Vector512.Store(acc * alpha, dst);
        else Vector512.Store(Vector512.FusedMultiplyAdd(acc, alpha, Vector512.Load(dst) * beta), dst);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* dst, Vector256<float> acc, Vector256<float> alpha, float beta)
    {
        if (beta == 0) Vector256.Store(acc * alpha, dst);
        else Vector256.Store(Vector256.FusedMultiplyAdd(acc, alpha, Vector256.Load(dst) * beta), dst);
    }

    /// <summary>C[6×32] = alpha·(Apanel·Bpanel) + beta·C (beta = 0: C not read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x32(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            a += MR;
            b += 32;
        }
        var al = Vector512.Create(alpha);
        Store512(c, c00, al, beta); Store512(c + 16, c01, al, beta); c += ldc;
        Store512(c, c10, al, beta); Store512(c + 16, c11, al, beta); c += ldc;
        Store512(c, c20, al, beta); Store512(c + 16, c21, al, beta); c += ldc;
        Store512(c, c30, al, beta); Store512(c + 16, c31, al, beta); c += ldc;
        Store512(c, c40, al, beta); Store512(c + 16, c41, al, beta); c += ldc;
        Store512(c, c50, al, beta); Store512(c + 16, c51, al, beta);
    }

    /// <summary>C[6×16] = alpha·(Apanel·Bpanel) + beta·C (beta = 0: C not read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            a += MR;
            b += 16;
        }
        var al = Vector256.Create(alpha);
        Store256(c, c00, al, beta); Store256(c + 8, c01, al, beta); c += ldc;
        Store256(c, c10, al, beta); Store256(c + 8, c11, al, beta); c += ldc;
        Store256(c, c20, al, beta); Store256(c + 8, c21, al, beta); c += ldc;
        Store256(c, c30, al, beta); Store256(c + 8, c31, al, beta); c += ldc;
        Store256(c, c40, al, beta); Store256(c + 8, c41, al, beta); c += ldc;
        Store256(c, c50, al, beta); Store256(c + 8, c51, al, beta);
    }

    /// <summary>64-byte aligned native pack space: A for one MC×KC block, and (when the buffer
    /// serves a whole product) B for the packed op(B), grown on demand. Pooled, so steady-state
    /// calls allocate nothing; the pool holds at most one per concurrent task.</summary>
    internal sealed class PackBuffer
    {
        private static readonly ConcurrentBag<PackBuffer> s_pool = new();

        public float* A;
        private float* _b;
        private long _bLen;
        private int _kc, _mc;

        /// <summary>Which column block of the current product B holds (-1: none; reset per rent).</summary>
        public int PackedBlock = -1;

        public static PackBuffer Rent()
        {
            if (!s_pool.TryTake(out var buf)) buf = new PackBuffer();
            buf.EnsureA(KC, MC);
            buf.PackedBlock = -1;
            return buf;
        }

        public static void Return(PackBuffer buf) => s_pool.Add(buf);

        private void EnsureA(int kc, int mc)
        {
            if (kc == _kc && mc == _mc) return;
            if (A != null) NativeMemory.AlignedFree(A);
            A = (float*)NativeMemory.AlignedAlloc((nuint)((long)(mc + MR) * kc * sizeof(float)), 64);
            (_kc, _mc) = (kc, mc);
        }

        public float* EnsureB(long len)
        {
            if (len <= _bLen) return _b;
            if (_b != null) NativeMemory.AlignedFree(_b);
            _b = (float*)NativeMemory.AlignedAlloc((nuint)(len * sizeof(float)), 64);
            _bLen = len;
            return _b;
        }
    }
}
