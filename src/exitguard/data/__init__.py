"""Binance public historical data: read, fetch, cache and synthesise (data.binance.vision).

- :mod:`.series`: the columnar series (exact int64 units) the backtest reads;
- :mod:`.load`: ``load_trades`` / ``load_bars`` / ``load_book_ticker`` (zip or CSV, checksums,
  ``.npz`` cache), built on :mod:`.read` (one file), :mod:`.files` and :mod:`._kernel`;
- :mod:`.names`: archive names and the published directory layout;
- :mod:`.fetch`: the resumable downloader behind ``exitguard data fetch``;
- :mod:`.synth`: synthetic archives in the published format (``exitguard data synth``).

Nothing is imported here, so that ``exitguard.data.series`` stays cheap to import.
"""
