// A line chart as a person reads one: a title, x and y axes with "nice" tick values (1, 2 or 5 times a power of
// ten) and their labels, light grid lines, one coloured line per series (optionally with square markers for
// sparse series such as validation points) and a legend. Rendered onto a Canvas; PNGWriter saves it.
import Foundation

public struct LineChart: Sendable {
  public struct Point: Sendable, Equatable {
    public var x, y: Double
    public init(_ x: Double, _ y: Double) {
      self.x = x
      self.y = y
    }
  }

  public struct Series: Sendable {
    public var name: String
    public var color: RGB
    /// Non-finite values leave a gap in the line.
    public var points: [Point]
    public var markers: Bool
    public init(_ name: String, color: RGB, points: [Point], markers: Bool = false) {
      self.name = name
      self.color = color
      self.points = points
      self.markers = markers
    }
  }

  /// Colours that stay apart on white and for common colour blindness (blue, orange, green, purple).
  public static let palette = [RGB(31, 119, 180), RGB(230, 97, 1), RGB(26, 152, 80), RGB(118, 42, 131)]

  public var title: String
  public var xLabel: String
  public var yLabel: String
  public var series: [Series]
  public var width: Int
  public var height: Int

  public init(title: String, xLabel: String, yLabel: String, series: [Series], width: Int = 960, height: Int = 600) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.series = series
    self.width = width
    self.height = height
  }

  static let text = RGB(34, 34, 34)
  static let grid = RGB(225, 225, 225)
  static let scale = 2

  public func render() -> Canvas {
    var canvas = Canvas(width: width, height: height)
    let finite = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
    let xTicks = Self.ticks(finite.map(\.x), integers: true)
    let yTicks = Self.ticks(finite.map(\.y), integers: false)
    let xLabels = xTicks.values.map { Self.label($0, step: xTicks.step) }
    let yLabels = yTicks.values.map { Self.label($0, step: yTicks.step) }
    let s = Self.scale, lineHeight = Canvas.textHeight(scale: s)
    let yLabelWidth = yLabels.map { Canvas.textWidth($0, scale: s) }.max() ?? 0
    let left = 24 + lineHeight + 16 + yLabelWidth + 10
    let top = 24 + Canvas.textHeight(scale: 3) + 24
    let bottom = height - (24 + lineHeight + 16 + lineHeight + 12)
    let right = width - 32
    guard right > left + 10, bottom > top + 10 else { return canvas }
    func px(_ x: Double) -> Int {
      left + Int(((x - xTicks.low) / (xTicks.high - xTicks.low) * Double(right - left)).rounded())
    }
    func py(_ y: Double) -> Int {
      bottom - Int(((y - yTicks.low) / (yTicks.high - yTicks.low) * Double(bottom - top)).rounded())
    }

    canvas.text(title, x: (width - Canvas.textWidth(title, scale: 3)) / 2, y: 24, scale: 3, Self.text)
    for (value, label) in zip(yTicks.values, yLabels) {
      let y = py(value)
      canvas.line(left, y, right, y, Self.grid)
      canvas.line(left - 6, y, left, y, Self.text)
      canvas.text(
        label, x: left - 10 - Canvas.textWidth(label, scale: s), y: y - lineHeight / 2, scale: s, Self.text)
    }
    for (value, label) in zip(xTicks.values, xLabels) {
      let x = px(value)
      canvas.line(x, top, x, bottom, Self.grid)
      canvas.line(x, bottom, x, bottom + 6, Self.text)
      canvas.text(label, x: x - Canvas.textWidth(label, scale: s) / 2, y: bottom + 12, scale: s, Self.text)
    }
    canvas.line(left, top, left, bottom, Self.text, thickness: 2)
    canvas.line(left, bottom, right, bottom, Self.text, thickness: 2)
    canvas.text(
      xLabel, x: (left + right - Canvas.textWidth(xLabel, scale: s)) / 2, y: bottom + 12 + lineHeight + 16, scale: s,
      Self.text)
    canvas.verticalText(
      yLabel, x: 24, y: (top + bottom - Canvas.textWidth(yLabel, scale: s)) / 2, scale: s, Self.text)

    for item in series {
      var previous: (Int, Int)?
      let points = item.points
      func drawn(_ i: Int) -> Bool { points.indices.contains(i) && points[i].x.isFinite && points[i].y.isFinite }
      for i in points.indices {
        guard drawn(i) else {
          previous = nil
          continue
        }
        let here = (px(points[i].x), py(points[i].y))
        if let previous { canvas.line(previous.0, previous.1, here.0, here.1, item.color, thickness: 3) }
        // A point with no line to it (a one-step run, a value between gaps) still shows, as a marker.
        if item.markers || (!drawn(i - 1) && !drawn(i + 1)) {
          canvas.fill(x: here.0 - 4, y: here.1 - 4, width: 9, height: 9, item.color)
        }
        previous = here
      }
    }
    drawLegend(on: &canvas, left: left, right: right, top: top, bottom: bottom)
    return canvas
  }

  /// A sample of each line and its name, on white, in the corner of the plot the curves cross least.
  func drawLegend(on canvas: inout Canvas, left: Int, right: Int, top: Int, bottom: Int) {
    let named = series.filter { !$0.name.isEmpty }
    guard !named.isEmpty else { return }
    let s = Self.scale, lineHeight = Canvas.textHeight(scale: s)
    let textWidth = named.map { Canvas.textWidth($0.name, scale: s) }.max() ?? 0
    let boxWidth = 12 + 28 + 8 + textWidth + 12
    let boxHeight = 10 + named.count * (lineHeight + 10)
    let colors = Set(series.map(\.color))
    let corners = [
      (right - boxWidth - 10, top + 10), (left + 10, top + 10), (right - boxWidth - 10, bottom - boxHeight - 10),
      (left + 10, bottom - boxHeight - 10),
    ]
    func covered(_ corner: (Int, Int)) -> Int {
      var n = 0
      for y in max(0, corner.1)..<min(canvas.height, corner.1 + boxHeight + 1) {
        for x in max(0, corner.0)..<min(canvas.width, corner.0 + boxWidth + 1)
        where colors.contains(canvas.pixel(x: x, y: y)) {
          n += 1
        }
      }
      return n
    }
    let (x, y) = corners.min { covered($0) < covered($1) } ?? corners[0]
    canvas.fill(x: x, y: y, width: boxWidth, height: boxHeight, .white)
    canvas.line(x, y, x + boxWidth, y, Self.grid.darker)
    canvas.line(x, y + boxHeight, x + boxWidth, y + boxHeight, Self.grid.darker)
    canvas.line(x, y, x, y + boxHeight, Self.grid.darker)
    canvas.line(x + boxWidth, y, x + boxWidth, y + boxHeight, Self.grid.darker)
    for (i, item) in named.enumerated() {
      let rowTop = y + 10 + i * (lineHeight + 10)
      let middle = rowTop + lineHeight / 2
      canvas.line(x + 12, middle, x + 40, middle, item.color, thickness: 3)
      if item.markers { canvas.fill(x: x + 22, y: middle - 4, width: 9, height: 9, item.color) }
      canvas.text(item.name, x: x + 48, y: rowTop, scale: s, Self.text)
    }
  }

  /// Tick values covering `values`: a step of 1, 2 or 5 × 10^k giving about six intervals, the ends rounded out
  /// to whole steps. `integers`: the step is at least 1 (optimizer steps).
  static func ticks(_ values: [Double], integers: Bool) -> (low: Double, high: Double, step: Double, values: [Double]) {
    var low = values.min() ?? 0, high = values.max() ?? 1
    if high - low < 1e-12 * max(1, abs(low)) {
      let pad = low == 0 ? 1 : abs(low) * 0.1
      low -= pad
      high += pad
    }
    let raw = (high - low) / 6
    let magnitude = pow(10, (log10(raw)).rounded(.down))
    let normal = raw / magnitude
    var step = (normal < 1.5 ? 1 : normal < 3 ? 2 : normal < 7 ? 5 : 10) * magnitude
    if integers { step = max(1, step.rounded()) }
    low = (low / step).rounded(.down) * step
    high = (high / step).rounded(.up) * step
    let count = Int(((high - low) / step).rounded())
    return (low, high, step, (0...count).map { low + Double($0) * step })
  }

  /// `12`, `0.25`, `3.5e-05`: as many decimals as the step needs; scientific for very small or large values.
  static func label(_ value: Double, step: Double) -> String {
    if abs(value) < step * 1e-6 { return "0" }
    let magnitude = max(abs(value), step)
    if magnitude < 1e-3 || magnitude >= 1e6 {
      let digits = max(0, Int(log10(magnitude).rounded(.down) - log10(step).rounded(.down)))
      return String(format: "%.\(min(digits, 3))e", value)
    }
    let decimals = step >= 1 ? 0 : min(8, Int((-log10(step)).rounded(.up)))
    return String(format: "%.\(decimals)f", value)
  }
}

extension RGB {
  var darker: RGB { RGB(r / 2, g / 2, b / 2) }
}
