;; A toy emulator guest: it owns a 1024x256 RGBA framebuffer at 0x10000 in its memory and, each
;; frame, erases a 32x32 box, moves it (bouncing off the edges) and draws it again. Every 8th
;; frame it also ticks a progress pixel on the bottom row. Build: wat2wasm guest.wat -o guest.wasm
(module
  (import "env" "memory" (memory 17 17))
  (global $fb i32 (i32.const 0x10000))
  (global $width i32 (i32.const 1024))
  (global $height i32 (i32.const 256))
  (global $box i32 (i32.const 32))
  ;; guest state: x @0, y @4, dx @8, dy @12, frame @16

  (func $fill_rect (export "fill_rect") (param $x i32) (param $y i32) (param $w i32) (param $h i32) (param $color i32)
    (local $row i32) (local $p i32) (local $end i32)
    (local.set $row (local.get $y))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_s (local.get $row) (i32.add (local.get $y) (local.get $h))))
        ;; p = fb + (row * width + x) * 4
        (local.set $p (i32.add (global.get $fb)
          (i32.shl (i32.add (i32.mul (local.get $row) (global.get $width)) (local.get $x)) (i32.const 2))))
        (local.set $end (i32.add (local.get $p) (i32.shl (local.get $w) (i32.const 2))))
        (block $row_done
          (loop $cols
            (br_if $row_done (i32.ge_u (local.get $p) (local.get $end)))
            (i32.store (local.get $p) (local.get $color))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $cols)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $rows))))

  ;; Clears the screen and places the box: the first frame redraws everything.
  (func (export "init") (param $x i32) (param $y i32) (param $dx i32) (param $dy i32)
    (call $fill_rect (i32.const 0) (i32.const 0) (global.get $width) (global.get $height) (i32.const 0xff201008))
    (i32.store (i32.const 0) (local.get $x))
    (i32.store (i32.const 4) (local.get $y))
    (i32.store (i32.const 8) (local.get $dx))
    (i32.store (i32.const 12) (local.get $dy))
    (i32.store (i32.const 16) (i32.const 0))
    (call $fill_rect (local.get $x) (local.get $y) (global.get $box) (global.get $box) (i32.const 0xff00ffff)))

  ;; One frame: erase, move (bounce), draw; every 8th frame a progress pixel on the last row.
  (func (export "step") (result i32)
    (local $x i32) (local $y i32) (local $dx i32) (local $dy i32) (local $frame i32)
    (local.set $x (i32.load (i32.const 0)))
    (local.set $y (i32.load (i32.const 4)))
    (local.set $dx (i32.load (i32.const 8)))
    (local.set $dy (i32.load (i32.const 12)))
    (local.set $frame (i32.add (i32.load (i32.const 16)) (i32.const 1)))
    (call $fill_rect (local.get $x) (local.get $y) (global.get $box) (global.get $box) (i32.const 0xff201008))
    (if (i32.or (i32.lt_s (i32.add (local.get $x) (local.get $dx)) (i32.const 0))
                (i32.gt_s (i32.add (i32.add (local.get $x) (local.get $dx)) (global.get $box)) (global.get $width)))
      (then (local.set $dx (i32.sub (i32.const 0) (local.get $dx)))))
    (if (i32.or (i32.lt_s (i32.add (local.get $y) (local.get $dy)) (i32.const 0))
                (i32.gt_s (i32.add (i32.add (local.get $y) (local.get $dy)) (global.get $box)) (i32.sub (global.get $height) (i32.const 1))))
      (then (local.set $dy (i32.sub (i32.const 0) (local.get $dy)))))
    (local.set $x (i32.add (local.get $x) (local.get $dx)))
    (local.set $y (i32.add (local.get $y) (local.get $dy)))
    (call $fill_rect (local.get $x) (local.get $y) (global.get $box) (global.get $box)
      (i32.or (i32.const 0xff000000) (i32.mul (local.get $frame) (i32.const 0x0a1f33))))
    (if (i32.eqz (i32.and (local.get $frame) (i32.const 7)))
      (then (call $fill_rect (i32.shr_u (local.get $frame) (i32.const 3)) (i32.sub (global.get $height) (i32.const 1))
        (i32.const 1) (i32.const 1) (i32.const 0xffffffff))))
    (i32.store (i32.const 0) (local.get $x))
    (i32.store (i32.const 4) (local.get $y))
    (i32.store (i32.const 8) (local.get $dx))
    (i32.store (i32.const 12) (local.get $dy))
    (i32.store (i32.const 16) (local.get $frame))
    (local.get $frame)))
