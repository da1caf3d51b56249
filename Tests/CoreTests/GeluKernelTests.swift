// The GELU loops (Sources/Kernels/gelu.c and its AVX-512 file) on every path this CPU runs, always
// including the portable one: bit for bit Gelu's Swift SIMD16 forward and backward (so the kernel path changes no
// fp32 result), and Gelu.forward / backward on each path give the bits of the Swift path.
import CFlrKernels
import XCTest

@testable import FlrCore

final class GeluKernelTests: XCTestCase {
  override func tearDown() { KernelPath.active = .supported }

  /// Lengths around the 16-lane blocks.
  static let lengths = [0, 1, 7, 15, 16, 17, 31, 33, 144, 601]

  /// Inputs of each length: small, past erf's clamp at |x/√2| = 4, past exp's underflow (|x| > 13.2, the
  /// backward's density), and special values (±0, ±inf, NaN) cycled.
  func inputs(_ n: Int, seed: UInt64) -> [[Float]] {
    var data = TestData(seed: seed)
    let special: [Float] = [0, -0.0, .infinity, -.infinity, .nan, 4, -4, 5.657, 13.3, -13.3]
    return [
      data.floats(n, scale: 4), data.floats(n, scale: 9), data.floats(n, scale: 30),
      (0..<n).map { special[$0 % special.count] },
    ]
  }

  /// Bit patterns with every NaN as one (a NaN's payload is not part of the result).
  func bits(_ v: [Float]) -> [UInt32] { v.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern } }

  func testEveryPathGivesTheSIMD16Bits() {
    for path in KernelPath.runnable {
      KernelPath.active = path
      XCTAssertEqual(KernelPath.active, path)
      for n in Self.lengths {
        for (kind, x) in inputs(n, seed: UInt64(n)).enumerated() {
          let label = "\(path) n=\(n) kind \(kind)"
          var want = [Float](repeating: 0, count: n), got = want
          x.withUnsafeBufferPointer { x in
            want.withUnsafeMutableBufferPointer { Gelu.simd16Forward($0.baseAddress!, x.baseAddress!, n) }
            got.withUnsafeMutableBufferPointer { flr_gelu_forward($0.baseAddress, x.baseAddress, n) }
          }
          XCTAssertEqual(bits(got), bits(want), "forward \(label)")
          var data = TestData(seed: 100 + UInt64(n))
          let dout = data.floats(n, scale: 2), start = data.floats(n)
          for accumulate in [false, true] {
            var want = start, got = start
            x.withUnsafeBufferPointer { x in
              dout.withUnsafeBufferPointer { g in
                want.withUnsafeMutableBufferPointer {
                  Gelu.simd16Backward($0.baseAddress!, g.baseAddress!, x.baseAddress!, n, accumulate: accumulate)
                }
                got.withUnsafeMutableBufferPointer {
                  flr_gelu_backward($0.baseAddress, g.baseAddress, x.baseAddress, n, accumulate ? 1 : 0)
                }
              }
            }
            XCTAssertEqual(bits(got), bits(want), "backward accumulate=\(accumulate) \(label)")
          }
        }
      }
    }
  }

  /// Gelu.forward (in place) and Gelu.backward on each path against the same calls on the Swift path.
  func testForwardAndBackwardUseTheKernelWithTheSameBits() {
    var data = TestData(seed: 5)
    let n = 16 * 37 + 9
    let x = data.floats(n, scale: 6), dout = data.floats(n), start = data.floats(n)
    func run(_ path: KernelPath) -> (forward: [Float], backward: [Float]) {
      KernelPath.active = path
      var y = x, d = start
      y.withUnsafeMutableBufferPointer { Gelu.forward(out: $0.baseAddress!, inp: $0.baseAddress!, count: n) }
      d.withUnsafeMutableBufferPointer { d in
        Gelu.backward(dinp: d.baseAddress!, dout: dout, inp: x, count: n)
      }
      return (y, d)
    }
    let swift = run(.portable)
    for path in KernelPath.runnable {
      let got = run(path)
      XCTAssertEqual(bits(got.forward), bits(swift.forward), "forward \(path)")
      XCTAssertEqual(bits(got.backward), bits(swift.backward), "backward \(path)")
    }
  }
}
