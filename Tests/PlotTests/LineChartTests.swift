import FlrImage
import Foundation
import XCTest

@testable import FlrPlot

/// Charts as a person sees them: the PNG decodes (with FlrImage's libpng reader) at the requested size, its
/// curves are there in their colours, the text is drawn, and tick values are round numbers covering the data.
final class LineChartTests: XCTestCase {
  func testChartPNGDecodesAtItsSizeWithBothCurvesAndText() throws {
    let train = (1...40).map { LineChart.Point(Double($0), 10 * exp(-Double($0) / 10) + 0.3) }
    let val = stride(from: 10, through: 40, by: 10).map {
      LineChart.Point(Double($0), 10 * exp(-Double($0) / 12) + 0.8)
    }
    let chart = LineChart(
      title: "Loss - run", xLabel: "optimizer step", yLabel: "loss",
      series: [
        .init("train loss", color: LineChart.palette[0], points: train),
        .init("val loss", color: LineChart.palette[1], points: val, markers: true),
      ], width: 640, height: 400)
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("flr-chart-\(getpid()).png")
    defer { try? FileManager.default.removeItem(at: file) }
    try PNGWriter.write(chart.render(), to: file)
    let image = try ImageDecoder.decode(contentsOf: file)
    XCTAssertEqual(image.width, 640)
    XCTAssertEqual(image.height, 400)
    var counts: [RGB: Int] = [:]
    for i in stride(from: 0, to: image.pixels.count, by: 3) {
      counts[RGB(image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]), default: 0] += 1
    }
    // A thick line across most of the width, and four markers plus the segments between them.
    XCTAssertGreaterThan(counts[LineChart.palette[0], default: 0], 1500, "train curve")
    XCTAssertGreaterThan(counts[LineChart.palette[1], default: 0], 600, "val curve")
    XCTAssertGreaterThan(counts[LineChart.text, default: 0], 2000, "axes, ticks and text")
    XCTAssertGreaterThan(counts[.white, default: 0], 640 * 400 / 2, "background")
    // The title is centred in the top band: dark pixels there, none in the top-left corner.
    func dark(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) -> Int {
      var n = 0
      for y in y0..<y1 {
        for x in x0..<x1 where image.pixels[(y * 640 + x) * 3] == LineChart.text.r { n += 1 }
      }
      return n
    }
    XCTAssertGreaterThan(dark(220, 20, 420, 50), 100)
    XCTAssertEqual(dark(0, 0, 60, 20), 0)
  }

  /// A rising curve runs through the top-right corner: the legend moves to the top left, which it leaves free.
  func testLegendGoesWhereTheCurvesAreNot() {
    let rising = (0...20).map { LineChart.Point(Double($0), Double($0)) }
    let chart = LineChart(
      title: "lr", xLabel: "step", yLabel: "lr", series: [.init("d*lr", color: LineChart.palette[1], points: rising)],
      width: 600, height: 400)
    let canvas = chart.render()
    var topLeft = 0
    for y in 0..<(400 / 3) {
      for x in 0..<(600 / 3) where canvas.pixel(x: x, y: y) == LineChart.palette[1] { topLeft += 1 }
    }
    XCTAssertGreaterThan(topLeft, 40, "the legend's sample line")
  }

  func testALonePointIsDrawn() {
    let chart = LineChart(
      title: "one step", xLabel: "step", yLabel: "loss",
      series: [.init("train loss", color: LineChart.palette[0], points: [.init(1, 10.25)])], width: 400, height: 300)
    let canvas = chart.render()
    var count = 0
    for y in 0..<300 {
      for x in 0..<400 where canvas.pixel(x: x, y: y) == LineChart.palette[0] { count += 1 }
    }
    XCTAssertGreaterThan(count, 81 + 20, "a 9x9 marker besides the legend's sample")
  }

  func testTicksAreRoundNumbersCoveringTheData() {
    let y = LineChart.ticks([0.37, 9.8], integers: false)
    XCTAssertEqual(y.step, 2)
    XCTAssertEqual(y.values, [0, 2, 4, 6, 8, 10])
    let x = LineChart.ticks([1, 3], integers: true)
    XCTAssertEqual(x.step, 1)
    XCTAssertEqual(x.values.first, 1)
    XCTAssertEqual(x.values.last, 3)
    let flat = LineChart.ticks([5, 5], integers: false)
    XCTAssertLessThan(flat.low, 5)
    XCTAssertGreaterThan(flat.high, 5)
  }

  func testLabelsUseTheDecimalsTheStepNeeds() {
    XCTAssertEqual(LineChart.label(2, step: 2), "2")
    XCTAssertEqual(LineChart.label(0.25, step: 0.05), "0.25")
    XCTAssertEqual(LineChart.label(0, step: 0.05), "0")
    XCTAssertEqual(LineChart.label(1e-4, step: 2e-5), "1.0e-04")
    XCTAssertEqual(LineChart.label(1.2e-4, step: 2e-5), "1.2e-04")
  }

  func testVerticalTextIsTheHorizontalTextTurnedALeftQuarter() {
    var across = Canvas(width: 40, height: 20)
    across.text("F", x: 0, y: 0, .black)
    var up = Canvas(width: 20, height: 40)
    up.verticalText("F", x: 0, y: 0, .black)
    // Pixel (column c, row r) of the glyph lands at (x r, y width-1-c) when turned.
    for r in 0..<7 {
      for c in 0..<5 {
        XCTAssertEqual(across.pixel(x: c, y: r), up.pixel(x: r, y: 4 - c), "(\(c), \(r))")
      }
    }
  }
}
