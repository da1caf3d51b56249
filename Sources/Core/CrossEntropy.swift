// Cross-entropy over logits (torch F.cross_entropy, reduction 'mean', ignore_index -100): the mean of
// -log softmax(logits)[target] over rows whose target is not ignored.

public enum CrossEntropy {
  /// logits [rows, V], targets [rows]. Returns the mean loss (NaN when every target is ignored, as torch).
  /// dlogits [rows, V], if given, is WRITTEN (not accumulated): (softmax - onehot) / kept, zero for ignored rows.
  /// Targets other than ignoreIndex must be in 0..<vocab.
  public static func forwardBackward(
    logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
    ignoreIndex: Int32 = -100, dlogits: UnsafeMutablePointer<Float>?
  ) -> Float {
    let scope = Profile.begin(.crossEntropy, bytes: (dlogits == nil ? 4 : 8) * rows * vocab)
    defer { Profile.end(scope) }
    var kept = 0
    for r in 0..<rows where targets[r] != ignoreIndex {
      precondition(targets[r] >= 0 && Int(targets[r]) < vocab, "target \(targets[r]) outside 0..<\(vocab)")
      kept += 1
    }
    let invKept = kept == 0 ? 0 : 1 / Float(kept)
    let workers = Threads.workerCount(rows)
    var partial = [Double](repeating: 0, count: workers)
    partial.withUnsafeMutableBufferPointer { losses in
      Threads.parallelWorkers(rows) { w, range in
        var sum = 0.0
        for r in range {
          let x = logits + r * vocab
          let t = targets[r]
          if t == ignoreIndex {
            dlogits?.advanced(by: r * vocab).update(repeating: 0, count: vocab)
            continue
          }
          let lse = logSumExp(x, vocab)
          sum += Double(lse - x[Int(t)])
          if let d = dlogits?.advanced(by: r * vocab) {
            // softmax = exp(x - lse), scaled by 1/kept
            let vl = F16x(repeating: lse), vs = F16x(repeating: invKept)
            var i = 0
            while i + 16 <= vocab {
              store16(exp16(load16(x + i) - vl) * vs, d + i)
              i += 16
            }
            while i < vocab {
              d[i] = exp1(x[i] - lse) * invKept
              i += 1
            }
            d[Int(t)] -= invKept
          }
        }
        losses[w] = sum
      }
    }
    return kept == 0 ? .nan : Float(partial.reduce(0, +) / Double(kept))
  }

  /// log Σ exp(x) for one row, max-shifted.
  static func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    let m = Softmax.rowMax(x, n)
    var i = 0
    let vm = F16x(repeating: m)
    var acc = F16x()
    while i + 16 <= n {
      acc += exp16(load16(x + i) - vm)
      i += 16
    }
    var s = sumLanes(acc)
    while i < n {
      s += exp1(x[i] - m)
      i += 1
    }
    return m + log(s)
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
