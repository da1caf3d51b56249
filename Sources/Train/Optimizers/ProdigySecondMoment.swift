// Prodigy's second moment, full or Adafactor-factored, as prodigy-plus-schedule-free 1.9.0 keeps it
// (core_optimiser.py `factored_dims`, `update_second_moment`, `get_denom`; OPTIMIZERS.md §5.3–5.4 step 2).

struct ProdigySecondMoment {
  enum Storage {
    case full(v: [Float])
    /// row has the param's shape with dim `dr` (largest) set to 1, col with `dc` (second largest) set to 1.
    case factored(
      row: [Float], col: [Float], dr: Int, dc: Int, rowIndex: [Int32], colIndex: [Int32],
      rowMeanIndex: [Int32], rowMeanCount: Int)
  }
  var storage: Storage
  let shape: [Int]

  /// `factored_dims(shape, factored, min_dim_size_to_factor=32)`: rank ≥ 2 and some dim ≥ 32; dims sorted by
  /// (size, index), so of two equal sizes the later index counts as larger.
  init(shape: [Int], factored: Bool) {
    self.shape = shape
    let count = shape.reduce(1, *)
    guard factored, shape.count >= 2, shape.contains(where: { $0 >= 32 }) else {
      storage = .full(v: [Float](repeating: 0, count: count))
      return
    }
    let sorted = shape.enumerated().sorted { ($0.element, $0.offset) < ($1.element, $1.offset) }
    let dc = sorted[sorted.count - 2].offset
    let dr = sorted[sorted.count - 1].offset
    var rowShape = shape
    rowShape[dr] = 1
    // 1.9.0: reduce_dc = dc − 1 if dc > dr else dc, used as a dim of row (quirk: for out×r this is the size-1 dim).
    let reduceDC = dc > dr ? dc - 1 : dc
    var meanShape = rowShape
    meanShape[reduceDC] = 1
    storage = .factored(
      row: [Float](repeating: 0, count: count / shape[dr]), col: [Float](repeating: 0, count: count / shape[dc]),
      dr: dr, dc: dc, rowIndex: keepdimIndexMap(shape: shape, dim: dr),
      colIndex: keepdimIndexMap(shape: shape, dim: dc),
      rowMeanIndex: keepdimIndexMap(shape: rowShape, dim: reduceDC), rowMeanCount: meanShape.reduce(1, *))
  }

  /// v ← v·decay + (1−β2)·g² (factored: row/col means of g² along dr/dc), then writes the denominator.
  mutating func update(
    grad g: UnsafePointer<Float>, count n: Int, decay: Float, weight: Float,
    denom: UnsafeMutablePointer<Float>, productDenominator: Bool = false
  ) {
    // 1.9.0 denominator: √(row/mean(row)) · √col; 2.0.1 (productDenominator): √(row/mean(row) · col).
    switch storage {
    case .full(var v):
      storage = .full(v: [])
      for j in 0..<n {
        v[j] = v[j] * decay + weight * g[j] * g[j]  // mul_(β2ρ²).addcmul_(g, g, value=1−β2)
        denom[j] = v[j].squareRoot()
      }
      storage = .full(v: v)
    case .factored(var row, var col, let dr, let dc, let rowIndex, let colIndex, let rowMeanIndex, let rowMeanCount):
      storage = .full(v: [])
      // grad.norm(dim, keepdim).square_().mul_(1/size): norm in fp32, then squared and scaled in fp32.
      func meanSquares(_ index: [Int32], _ outCount: Int, _ size: Int) -> [Float] {
        var acc = [Double](repeating: 0, count: outCount)
        for j in 0..<n { acc[Int(index[j])] += Double(g[j]) * Double(g[j]) }
        let inv = Float(1.0 / Double(size))
        return acc.map { a in
          let norm = Float(a.squareRoot())
          return norm * norm * inv
        }
      }
      let rowNew = meanSquares(rowIndex, row.count, shape[dr])
      let colNew = meanSquares(colIndex, col.count, shape[dc])
      for i in row.indices { row[i] = row[i] * decay + weight * rowNew[i] }
      for i in col.indices { col[i] = col[i] * decay + weight * colNew[i] }
      // row_factor = sqrt(row / (mean(row, dim=reduce_dc) + 1e-30)); denom = row_factor · sqrt(col)
      var meanAcc = [Double](repeating: 0, count: rowMeanCount)
      for i in row.indices { meanAcc[Int(rowMeanIndex[i])] += Double(row[i]) }
      let perMean = Double(row.count / rowMeanCount)
      let rowMean = meanAcc.map { Float($0 / perMean) + Float(1e-30) }
      if productDenominator {
        let rowRatio = row.indices.map { row[$0] / rowMean[Int(rowMeanIndex[$0])] }
        for j in 0..<n { denom[j] = (rowRatio[Int(rowIndex[j])] * col[Int(colIndex[j])]).squareRoot() }
      } else {
        let rowFactor = row.indices.map { (row[$0] / rowMean[Int(rowMeanIndex[$0])]).squareRoot() }
        for j in 0..<n { denom[j] = rowFactor[Int(rowIndex[j])] * col[Int(colIndex[j])].squareRoot() }
      }
      storage = .factored(
        row: row, col: col, dr: dr, dc: dc, rowIndex: rowIndex, colIndex: colIndex, rowMeanIndex: rowMeanIndex,
        rowMeanCount: rowMeanCount)
    }
  }

  func save(prefix: String, into s: inout OptimizerState) {
    switch storage {
    case .full(let v): s.tensors["\(prefix).exp_avg_sq"] = v
    case .factored(let row, let col, _, _, _, _, _, _):
      s.tensors["\(prefix).exp_avg_sq_row"] = row
      s.tensors["\(prefix).exp_avg_sq_col"] = col
    }
  }

  mutating func load(prefix: String, from s: OptimizerState) throws {
    switch storage {
    case .full(let v): storage = .full(v: try s.tensor("\(prefix).exp_avg_sq", count: v.count))
    case .factored(let row, let col, let dr, let dc, let ri, let ci, let rmi, let rmc):
      storage = .factored(
        row: try s.tensor("\(prefix).exp_avg_sq_row", count: row.count),
        col: try s.tensor("\(prefix).exp_avg_sq_col", count: col.count), dr: dr, dc: dc, rowIndex: ri,
        colIndex: ci, rowMeanIndex: rmi, rowMeanCount: rmc)
    }
  }

  /// For tests: (row, col) or (v, nil).
  var tensors: ([Float], [Float]?) {
    switch storage {
    case .full(let v): return (v, nil)
    case .factored(let row, let col, _, _, _, _, _, _): return (row, col)
    }
  }
}
