// Which reduced-precision kernels run (Sources/Kernels, a C target compiled without -march=native): picked at
// run time from the CPU's features, lowered with FLR_KERNELS=portable|avx2|avx512 or `KernelPath.active = …`.
import CFlrKernels

public enum KernelPath: Int, Sendable, CaseIterable, Comparable, CustomStringConvertible {
  /// Plain C, any CPU.
  case portable = 0
  /// AVX2 + FMA: bf16 widened to fp32 in registers, int8 with vpmaddubsw.
  case avx2 = 1
  /// AVX-512 F/BW/VL + AVX512_BF16 + AVX512_VNNI: vdpbf16ps and vpdpbusd.
  case avx512 = 2

  /// The best path this CPU runs.
  public static var supported: KernelPath { KernelPath(rawValue: Int(flr_kernels_supported())) ?? .portable }

  /// The path in use; setting one the CPU lacks selects the best supported one.
  public static var active: KernelPath {
    get { KernelPath(rawValue: Int(flr_kernels_active())) ?? .portable }
    set { flr_kernels_select(Int32(newValue.rawValue)) }
  }

  /// Every path this CPU runs, lowest first (what the tests exercise).
  public static var runnable: [KernelPath] { allCases.filter { $0 <= supported } }

  /// Whether bf16 products run on bf16 dot-product instructions (else the weights are widened to fp32).
  public static var hasNativeBF16: Bool { active == .avx512 }

  public static func < (a: KernelPath, b: KernelPath) -> Bool { a.rawValue < b.rawValue }

  public var description: String {
    switch self {
    case .portable: "portable"
    case .avx2: "avx2"
    case .avx512: "avx512 (bf16, vnni)"
    }
  }
}
