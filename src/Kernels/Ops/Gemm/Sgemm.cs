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
            ScaleC(s, beta, c);
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
            {
                // Enough independent products: one per task, each with its own pack buffers.
                Parallel.For(0, s.Batch, new ParallelOptions { MaxDegreeOfParallelism = threads }, bi =>
                {
                    var buf = PackBuffer.Rent();
                    try { Product(shape, bi, alpha, (float*)ia, (float*)ib, beta, (float*)ic, buf, wide, 1); }
                    finally { PackBuffer.Return(buf); }
                });
                return;
            }
            var shared = PackBuffer.Rent();
            try
            {
                for (int bi = 0; bi < s.Batch; bi++)
                    Product(shape, bi, alpha, pa, pb, beta, pc, shared, wide, threads);
            }
            finally { PackBuffer.Return(shared); }
        }
    }

    /// <summary>C = beta·C (K = 0 or alpha = 0): BLAS reads neither A nor B then; beta = 0 writes
    /// zeros even over NaN.</summary>
    private static void ScaleC(in GemmShape s, float beta, float[] c)
    {
        for (int bi = 0; bi < s.Batch; bi++)
            for (int i = 0; i < s.M; i++)
            {
                var row = c.AsSpan((int)(s.OffsetC + bi * s.StrideC + (long)i * s.LdC), s.N);
                if (beta == 0) row.Clear();
                else if (beta != 1) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
            }
    }

    /// <summary>Runs body(0..count) inline or over up to <paramref name="threads"/> workers,
    /// dynamically scheduled so that a core taken by another process does not stall the rest.</summary>
    private static void For(int count, int threads, Action<int> body)
    {
        if (threads <= 1 || count <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
    }

    /// <summary>Batch entry bi. For each (NC, KC) block of B: the block is packed once into the
    /// shared buffer (panels split over the threads), then (MC rows × column chunk) tasks each
    /// pack their A block into a pooled buffer and run the micro-kernel over it. Tasks write
    /// disjoint C tiles, at least MC rows or a 32-column panel apart, so no false sharing.</summary>
    private static void Product(in GemmShape s, int bi, float alpha, float* a, float* b, float beta, float* c,
        PackBuffer shared, bool wide, int threads)
    {
        int nr = wide ? 32 : 16;
        int kcMax = KC, mcMax = MC, ncMax = NC;
        a += s.OffsetA + bi * s.StrideA;
        b += s.OffsetB + bi * s.StrideB;
        c += s.OffsetC + bi * s.StrideC;
        nint ia = (nint)a, ib = (nint)b, ic = (nint)c, ibp = (nint)shared.B, ldc = s.LdC;
        var shape = s;
        int mBlocks = (s.M + mcMax - 1) / mcMax;
        for (int jc = 0; jc < s.N; jc += ncMax)
        {
            int nc = Math.Min(ncMax, s.N - jc);
            int panels = (nc + nr - 1) / nr;
            // Few row blocks: split the columns too so that every thread has work.
            int perChunk = threads == 1 ? panels : Math.Max(1, panels * mBlocks / (4 * threads));
            perChunk = Math.Min(perChunk, panels);
            int chunks = (panels + perChunk - 1) / perChunk;
            for (int pc = 0; pc < s.K; pc += kcMax)
            {
                int kc = Math.Min(kcMax, s.K - pc);
                // Later depth blocks accumulate onto what the first one wrote.
                float betaEff = pc == 0 ? beta : 1f;
                int packTasks = Math.Min(threads, (panels + 3) / 4);
                int perPack = (panels + packTasks - 1) / packTasks;
                int jcc = jc;
                For(packTasks, threads, t =>
                {
                    int p0 = t * perPack, p1 = Math.Min(panels, p0 + perPack);
                    if (p0 < p1)
                        PackB(shape, (float*)ib, pc, kc, jcc + p0 * nr, Math.Min(nc, p1 * nr) - p0 * nr,
                            (float*)ibp + (long)p0 * nr * kc, nr);
                });
                For(mBlocks * chunks, threads, u =>
                {
                    int row0 = u / chunks * mcMax, mc = Math.Min(mcMax, shape.M - row0);
                    int col0 = u % chunks * perChunk * nr, cols = Math.Min(nc, col0 + perChunk * nr) - col0;
                    var own = threads == 1 ? shared : PackBuffer.Rent();
                    try
                    {
                        PackA(shape, (float*)ia, row0, mc, pc, kc, own.A);
                        Macro(kc, own.A, (float*)ibp + (long)col0 * kc, (float*)ic + row0 * ldc + jcc + col0, ldc,
                            mc, cols, alpha, betaEff, wide);
                    }
                    finally
                    {
                        if (threads != 1) PackBuffer.Return(own);
                    }
                });
            }
        }
    }

    /// <summary>C[mc × nc] from a packed A block and packed B panels, tile by tile.</summary>
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
    private static void PackA(in GemmShape s, float* a, int ic, int mc, int pc, int kc, float* dst)
    {
        nint lda = s.LdA;
        for (int ir = 0; ir < mc; ir += MR)
        {
            int rows = Math.Min(MR, mc - ir);
            float* d = dst + (long)ir * kc;
            if (s.TransA)
            {
                // Stored K×M: op(A)'s column p is a contiguous row.
                float* src = a + pc * lda + ic + ir;
                if (rows == MR)
                    for (int p = 0; p < kc; p++, src += lda, d += MR)
                    {
                        d[0] = src[0]; d[1] = src[1]; d[2] = src[2];
                        d[3] = src[3]; d[4] = src[4]; d[5] = src[5];
                    }
                else
                    for (int p = 0; p < kc; p++, src += lda, d += MR)
                        for (int r = 0; r < MR; r++) d[r] = r < rows ? src[r] : 0f;
            }
            else
            {
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
    }

    /// <summary>Packs op(B)[pc:pc+kc, jc:jc+nc] as NR-column panels, element (p, j) at p·NR + j;
    /// columns past nc are zero.</summary>
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

    /// <summary>64-byte aligned native pack space for one thread's A block and B block, pooled so
    /// that steady-state calls allocate nothing; the pool holds at most one per concurrent caller.</summary>
    internal sealed class PackBuffer
    {
        private static readonly ConcurrentBag<PackBuffer> s_pool = new();

        public float* A;
        public float* B;
        private int _kc, _mc, _nc;

        public static PackBuffer Rent()
        {
            if (!s_pool.TryTake(out var buf)) buf = new PackBuffer();
            buf.Ensure(KC, MC, NC);
            return buf;
        }

        public static void Return(PackBuffer buf) => s_pool.Add(buf);

        private void Ensure(int kc, int mc, int nc)
        {
            if (kc == _kc && mc == _mc && nc == _nc) return;
            if (A != null) NativeMemory.AlignedFree(A);
            // A: whole MR panels; B: whole 32-column panels (the widest kernel).
            long aLen = (long)(mc + MR) * kc, bLen = (long)(nc + 32) * kc;
            A = (float*)NativeMemory.AlignedAlloc((nuint)((aLen + bLen + 16) * sizeof(float)), 64);
            B = A + (aLen + 15) / 16 * 16;
            (_kc, _mc, _nc) = (kc, mc, nc);
        }
    }
}
