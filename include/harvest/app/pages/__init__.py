"""The app's pages, one Streamlit script each (run by :mod:`harvest.app.main`)."""
