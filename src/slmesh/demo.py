"""The seed article's three prompts and the passage the demo answers them from."""

REFERENCE_PROMPTS = (
    "Analyse sentiment and answer the following question:”How is it possible that the train is delayed once again, "
    "it’s been 3 times in less than 1 hour, is the train coming at all?”",
    "Analyse sentiment and answer the following question:”Would you mind telling me the time the next train will "
    "arrive?”",
    "Analyse sentiment and answer the following question:”This station is lovely, did you know this is the first "
    "train station in the city?”",
)

TRAIN_SERVICE_CONTEXT = (
    "Riverside Line service update. Trains on the Riverside Line normally run every 15 minutes between Old Town and "
    "Harbour Park. This afternoon a signal failure near Central Station has delayed services by about 20 minutes, "
    "and three trains have been delayed in the last hour. The train is still coming: the next train to Harbour Park "
    "will arrive at 14:35 on platform 2. Old Town station opened in 1847 and was the first train station in the "
    "city; it was restored in 2019."
)
