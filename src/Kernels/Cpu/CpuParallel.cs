namespace Kernels.Cpu;

/// <summary>Splits work over the machine's cores in contiguous chunks; small jobs run inline so
/// that tiny tensors do not pay for thread hand-off.</summary>
public static class CpuParallel
{
    /// <summary>Below this much work (elements × cost) a loop runs on the calling thread.</summary>
    public const long InlineWork = 32_768;

    public static int Threads { get; set; } = Environment.ProcessorCount;

    /// <summary>Runs body(start, end) over [0, count) in at most Threads chunks.</summary>
    public static void For(long count, long costPerItem, Action<long, long> body)
    {
        if (count <= 0) return;
        int threads = Threads;
        if (threads <= 1 || count == 1 || count * Math.Max(1, costPerItem) < InlineWork)
        {
            body(0, count);
            return;
        }
        int chunks = (int)Math.Min(count, threads);
        long per = (count + chunks - 1) / chunks;
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, c =>
        {
            long s = c * per, e = Math.Min(count, s + per);
            if (s < e) body(s, e);
        });
    }

    /// <summary>Runs body(i) for each i in [0, count), chunked.</summary>
    public static void ForEach(int count, long costPerItem, Action<int> body) =>
        For(count, costPerItem, (s, e) =>
        {
            for (long i = s; i < e; i++) body((int)i);
        });
}
