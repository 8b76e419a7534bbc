import { useEffect, useRef } from 'react';

export interface MenuItem {
  label: string;
  /** Shown greyed out with this reason as its tooltip. */
  disabled?: string;
  hint?: string;
  perform?(): void;
  /** A submenu, opened on hover or focus. */
  items?: MenuItem[];
  testId?: string;
}

/** A small right-click menu at (x, y) in the canvas's coordinates; Escape or a click elsewhere closes it. */
export function ContextMenu({ x, y, items, onClose, label }: { x: number; y: number; items: MenuItem[]; onClose(): void; label: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const away = (e: PointerEvent) => {
      if (!ref.current?.contains(e.target as Node)) onClose();
    };
    const key = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    window.addEventListener('pointerdown', away, true);
    window.addEventListener('keydown', key);
    ref.current?.querySelector<HTMLButtonElement>('button:not(:disabled)')?.focus();
    return () => {
      window.removeEventListener('pointerdown', away, true);
      window.removeEventListener('keydown', key);
    };
  }, [onClose]);
  return (
    <div ref={ref} className="context-menu" style={{ left: x, top: y }} role="menu" aria-label={label} data-testid="context-menu" onContextMenu={(e) => e.preventDefault()}>
      <MenuList items={items} onClose={onClose} />
    </div>
  );
}

function MenuList({ items, onClose }: { items: MenuItem[]; onClose(): void }) {
  return (
    <>
      {items.map((item) =>
        item.items ? (
          <div key={item.label} className="menu-sub" data-testid={item.testId}>
            <button type="button" role="menuitem" aria-haspopup="menu" className="menu-item">
              {item.label} <span className="menu-hint">▸</span>
            </button>
            <div className="submenu" role="menu" aria-label={item.label}>
              <MenuList items={item.items} onClose={onClose} />
            </div>
          </div>
        ) : (
          <button
            key={item.label}
            type="button"
            role="menuitem"
            className="menu-item"
            disabled={Boolean(item.disabled)}
            title={item.disabled}
            data-testid={item.testId}
            onClick={() => {
              onClose();
              item.perform?.();
            }}
          >
            {item.label}
            {item.hint && <span className="menu-hint">{item.hint}</span>}
          </button>
        ),
      )}
    </>
  );
}
