using Kernels.Bindings.Cuda;

namespace Kernels;

/// <summary>Resolves device names: cpu, ilgpu-cpu, emu, cuda, cuda:N, auto.</summary>
public static class Devices
{
    /// <summary>Device factories for the kinds that the GPU path provides; null until registered.</summary>
    public static Func<int, Device>? CudaFactory { get; set; }
    public static Func<Device>? IlgpuCpuFactory { get; set; }
    public static Func<Device>? EmuFactory { get; set; }

    /// <summary>"auto" means CUDA when a GPU is usable, else the CPU.</summary>
    public static Device Get(string name)
    {
        var n = name.Trim().ToLowerInvariant();
        switch (n)
        {
            case "cpu": return Device.Cpu;
            case "auto": return CudaDriverProbe.IsAvailable && CudaFactory is not null ? CudaFactory(0) : Device.Cpu;
            case "ilgpu-cpu":
                return IlgpuCpuFactory?.Invoke()
                       ?? throw new DeviceUnavailableException("the ilgpu-cpu device is not part of this build yet; use --device cpu");
            case "emu":
                return EmuFactory?.Invoke()
                       ?? throw new DeviceUnavailableException("the emu device is not part of this build yet; use --device cpu");
        }
        if (n == "cuda" || n.StartsWith("cuda:", StringComparison.Ordinal))
        {
            int ordinal = 0;
            if (n.Length > 5 && (!int.TryParse(n[5..], out ordinal) || ordinal < 0))
                throw new ArgumentException($"bad device '{name}': expected cuda:N with N a device number");
            if (!CudaDriverProbe.IsAvailable)
                throw new DeviceUnavailableException($"cannot use {name}: {CudaDriverProbe.Reason}. Run with --device cpu instead.");
            if (ordinal >= CudaDriverProbe.Devices.Count)
                throw new DeviceUnavailableException($"cannot use {name}: only {CudaDriverProbe.Devices.Count} CUDA device(s) present");
            return CudaFactory?.Invoke(ordinal)
                   ?? throw new DeviceUnavailableException($"cannot use {name}: this build has no CUDA device support yet. Run with --device cpu instead.");
        }
        throw new ArgumentException($"unknown device '{name}': use cpu, cuda, cuda:N, ilgpu-cpu, emu or auto");
    }
}
